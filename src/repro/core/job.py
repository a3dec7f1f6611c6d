"""The one thing a workflow script does before calling the library: set up the job.

    with Job(snakemake) as job:
        table = experiments.early_ascent(**job.cfg, seed=job.seed, device=job.device)
        job.write_parquet(table, snakemake.output.table)

`Job` sends stdout/stderr to the rule's log, applies the thread budget, seeds everything, resolves the
device, and stamps every output with provenance built from the rule's params (never from the global
config, so provenance and rerun triggers agree). It imports no plotting or model code on purpose: every
module a script imports is an input of its rule, so a figure-style edit must not rerun training.
"""

from __future__ import annotations

import sys
import traceback

from repro.core import io
from repro.core.provenance import Provenance
from repro.core.runtime import configure_threads, resolve_device, seed_everything


class Job:
    def __init__(self, smk):
        self.smk = smk
        params = dict(smk.params.items())
        self.cfg = params.get("cfg", {})
        self.seed = int(params.get("seed", 0))
        self.scale = params.get("scale")
        self.device = resolve_device(params.get("device", "cpu"))
        self.prov = Provenance(params=_plain(params), seed=self.seed, device=str(self.device), scale=self.scale)

    def __enter__(self) -> "Job":
        if self.smk.log:
            self._log = open(self.smk.log[0], "w", buffering=1)
            self._saved = sys.stdout, sys.stderr
            sys.stdout = sys.stderr = self._log
        configure_threads(self.smk.threads)
        seed_everything(self.seed)
        print(f"[repro] rule={self.smk.rule} device={self.device} seed={self.seed} threads={self.smk.threads}",
              file=sys.stderr)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None:
            traceback.print_exception(exc_type, exc, tb)
        if self.smk.log:
            sys.stdout, sys.stderr = self._saved
            self._log.close()
        return False

    def write_parquet(self, df, path):
        io.write_parquet(df, path, self.prov)

    def write_json(self, obj, path):
        io.write_json(obj, path, self.prov)

    def save_checkpoint(self, state_dict, path, config):
        io.save_checkpoint(state_dict, path, config, self.prov)


def _plain(x):
    """Snakemake params can hold Namedlists and other wrappers; provenance wants plain JSON."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)
