"""Adapter: exact constructions for every (K, d, N) -> parquet."""
from repro.core.io import load_checkpoint
from repro.core.job import Job
from repro.studies.ftc import experiments

with Job(snakemake) as job:
    fs = {}
    for path in snakemake.input.models:
        state, cfg = load_checkpoint(path)
        fs[cfg["d"]] = experiments.load_f(state, cfg)
    table = experiments.constructions_table(fs, job.cfg["problems"], job.cfg["Ns"], job.seed)
    job.write_parquet(table, snakemake.output.table)
