"""Adapter: Figure 6 sweep (early-ascent Bayes risk vs k in dimension d) -> parquet."""
from repro.core.job import Job
from repro.studies.dual_modes import experiments

with Job(snakemake) as job:
    p = snakemake.params
    table = experiments.early_ascent(int(p.d), p.ks, p.n_prompts, job.seed + int(p.d), job.device, p.chunk)
    job.write_parquet(table, snakemake.output.table)
