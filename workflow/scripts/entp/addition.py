"""Adapter: addition sample efficiency for one (objective, format, architecture, training-set size), every seed."""
from repro.core.job import Job
from repro.studies.entp import experiments

with Job(snakemake) as job:
    w = snakemake.wildcards
    job.write_parquet(experiments.addition(job.cfg, w.fmt, w.arch, int(w.n), w.objective, device=job.device),
                      snakemake.output.table)
