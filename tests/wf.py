"""Helpers for tests that run the workflow in throwaway copies of the repository."""

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def sh(cmd, cwd, check=True, env_extra=None):
    env = dict(os.environ, PYTHONPATH=f"{cwd}/src", **(env_extra or {}))
    proc = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"`{cmd}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def copy_repo(dst: Path, scale="smoke") -> Path:
    """Tracked and untracked-but-not-ignored files of this checkout, as a fresh git repo."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    cfg_path = dst / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["scale"] = scale
    cfg_path.write_text(yaml.safe_dump(cfg))
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", dst)
    return dst


def planned_rules(repo, extra="") -> dict:
    """Rules `snakemake -n` would run, with counts (empty when there is nothing to do)."""
    out = sh(f"snakemake {extra} -n --quiet rules", repo).stdout
    rules = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total"):
            rules[parts[0]] = int(parts[1])
    return rules


@contextmanager
def restored(path: Path):
    """Yield the file's text; whatever the block writes to it, the original is back afterwards."""
    original = path.read_text()
    try:
        yield original
    finally:
        path.write_text(original)
