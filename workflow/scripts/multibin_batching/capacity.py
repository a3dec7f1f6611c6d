"""Adapter: simulated vs closed-form capacity (uniform lengths) and the equal-mass optimality check."""
from repro.core.job import Job
from repro.studies.multibin_batching import experiments

with Job(snakemake) as job:
    job.write_parquet(experiments.capacity(job.cfg, job.seed), snakemake.output.capacity)
    job.write_parquet(experiments.equal_mass_optimality(job.cfg), snakemake.output.equal_mass)
