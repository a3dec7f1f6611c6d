"""Adapter: length generalisation of one architecture (train short operands, test longer ones), every seed."""
from repro.core.job import Job
from repro.studies.entp import experiments

with Job(snakemake) as job:
    table = experiments.length_generalisation(job.cfg, snakemake.wildcards.arch, device=job.device)
    job.write_parquet(table, snakemake.output.table)
