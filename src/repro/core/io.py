"""Provenance-stamped, atomic writers and readers for every artifact type the studies produce.

- parquet: provenance in the schema metadata under the key `repro`
- json: the object itself, provenance in a sidecar `<name>.provenance.json`
- checkpoints: safetensors (loading never executes code), config and provenance in its metadata
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file, save_file

from repro.core.provenance import Provenance

META_KEY = b"repro"


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to `path`; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; shared caches and clusters need the usual mode
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_parquet(df: pd.DataFrame, path, prov: Provenance | None = None) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    if prov is not None:
        meta = dict(table.schema.metadata or {})
        meta[META_KEY] = json.dumps(prov.stamp(), default=str).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet(path) -> pd.DataFrame:
    return pd.read_parquet(path)


def read_provenance(path) -> dict:
    """Provenance of any artifact written by this module."""
    path = Path(path)
    if path.suffix == ".parquet":
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[META_KEY])
    if path.suffix == ".safetensors":
        return json.loads(_safetensors_metadata(path)["provenance"])
    return json.loads(sidecar(path).read_text())


def sidecar(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".provenance.json")


def write_text(text: str, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(obj, path, prov: Provenance | None = None) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")
    if prov is not None:
        with atomic_path(sidecar(path)) as tmp:
            tmp.write_text(json.dumps(prov.stamp(), indent=2, default=str) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())


def _jsonable(x):
    if hasattr(x, "item"):  # numpy / torch scalars
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def save_checkpoint(state_dict: dict, path, config: dict, prov: Provenance | None = None) -> None:
    """Atomic safetensors checkpoint with the model config embedded (as nanoGPT embeds it in ckpt.pt)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    meta = {"config": json.dumps(config, default=str)}
    if prov is not None:
        meta["provenance"] = json.dumps(prov.stamp(), default=str)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path, device: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Return (state_dict, config). safetensors holds only tensors: nothing in the file can run code."""
    config = json.loads(_safetensors_metadata(path)["config"])
    return load_file(str(path), device=str(device)), config


def _safetensors_metadata(path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}
