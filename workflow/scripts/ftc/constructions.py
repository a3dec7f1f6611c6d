"""Adapter: exact constructions for every (K, d, N) -> parquet."""
from repro.core.job import Job
from repro.studies.ftc import experiments

with Job(snakemake) as job:
    fs = experiments.load_fs(snakemake.input.models)
    table = experiments.constructions_table(fs, job.cfg["problems"], job.cfg["Ns"], job.seed)
    job.write_parquet(table, snakemake.output.table)
