"""Adapter: breakpoint lower bounds on collinear spike patterns -> parquet."""
from repro.core.job import Job
from repro.studies.ftc import experiments

with Job(snakemake) as job:
    job.write_parquet(experiments.bounds_table(job.cfg["Ns"]), snakemake.output.table)
