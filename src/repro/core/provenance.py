"""What produced a file: config hash, git revision, package versions, seed, device, wall time.

Provenance is written *into* artifacts (parquet schema metadata, safetensors metadata, PNG text chunks)
or beside JSON files, never into Snakemake params: a commit must not rerun the workflow.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("repro", "torch", "numpy", "pandas", "pyarrow", "snakemake", "transformers", "dvc")


def config_hash(params: object) -> str:
    """Stable short hash of a JSON-able config (key order does not matter)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@lru_cache(maxsize=1)
def git_revision() -> str:
    """HEAD of the checkout this library was imported from, with '-dirty' for uncommitted changes."""
    root = Path(__file__).resolve().parents[3]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_name(device: str) -> str:
    if str(device).startswith("cuda"):
        import torch

        return f"cuda:{torch.cuda.get_device_name()} x{torch.cuda.device_count()}"
    return f"cpu:{platform.processor() or platform.machine()}"


@dataclass
class Provenance:
    """Started when a job starts; `stamp()` gives the record to embed when an output is written."""

    params: dict
    seed: int | None = None
    device: str = "cpu"
    scale: str | None = None
    started: float = field(default_factory=time.time)

    def stamp(self) -> dict:
        return {
            "config_hash": config_hash(self.params),
            "params": self.params,
            "git_revision": git_revision(),
            "packages": package_versions(),
            "seed": self.seed,
            "device": device_name(self.device),
            "scale": self.scale,
            "wall_time_s": round(time.time() - self.started, 3),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
