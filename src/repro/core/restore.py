"""Restore results from a DVC remote without recomputing them, and without trusting what is missing.

    repro-restore [-r REMOTE]

1. `dvc pull`. If the remote lacks some objects DVC refuses to check out the whole directory output that
   contains them, so every file whose object did arrive is then copied out of the cache one by one.
2. `snakemake --touch`: DVC does not restore mtimes, so the restored files are re-stamped in DAG order.
   Files the remote lacks are made sure to stay absent (no placeholder may pass for a result).
3. The files the remote lacked are listed with the command that recomputes exactly them:
   `snakemake --cores all <files>` (a plain `snakemake` would not: it skips intermediate files whose
   downstream results are present). The exit status is 2 when anything is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path


def _cache_object(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def tracked_files(root: Path, remote: str | None = None) -> list[tuple[Path, str]]:
    """(workspace path, md5) of every file DVC tracks, directory outputs expanded. `dvc ls` reads a
    directory's manifest from the remote when the local cache lacks it (as after a failed pull)."""
    cmd = ["dvc", "ls", "-R", "--dvc-only", "--json", *(["--remote", remote] if remote else []), "."]
    listing = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if listing.returncode != 0:
        raise SystemExit(f"repro-restore: cannot list the tracked files (dvc ls): {listing.stderr.strip()}")
    listing = listing.stdout
    return [(root / e["path"], e["md5"]) for e in json.loads(listing) if not e.get("isdir")]


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkout_available(root: Path, cache: Path, remote: str | None = None) -> list[Path]:
    """Copy every cached file that is absent from the workspace or differs from what DVC recorded;
    return the files the cache lacks (stale workspace copies of those are removed)."""
    missing = []
    for path, md5 in tracked_files(root, remote):
        if path.exists() and _md5(path) == md5:
            continue
        obj = _cache_object(cache, md5)
        if not obj.exists():
            path.unlink(missing_ok=True)
            missing.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(obj, path)
    return missing


def restore(root: Path = Path("."), remote: str | None = None, cores: int = 1) -> list[Path]:
    root = root.resolve()
    pull = subprocess.run(["dvc", "pull", *(["-r", remote] if remote else [])], cwd=root)
    cache = Path(subprocess.run(["dvc", "cache", "dir"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip())
    missing = checkout_available(root, cache, remote)
    if pull.returncode != 0 and not missing:
        raise SystemExit("dvc pull failed and nothing could be restored from the cache; see its message above")
    subprocess.run(["snakemake", "all", "--touch", "--cores", str(cores)], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    for path in missing:  # never let a placeholder pass for a result
        path.unlink(missing_ok=True)
    return missing


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-r", "--remote", help="DVC remote to pull from (default: the repository's default)")
    args = ap.parse_args(argv)
    missing = restore(remote=args.remote)
    if missing:
        rel = [str(p.relative_to(Path.cwd().resolve())) for p in missing]
        print(f"repro-restore: {len(rel)} file(s) are not on the remote: {' '.join(rel)}\n"
              f"recompute exactly them with:\n  snakemake --cores all {' '.join(rel)}", file=sys.stderr)
        return 2
    print("repro-restore: every artifact restored; `snakemake -n` has nothing to do.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
