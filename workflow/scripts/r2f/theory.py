"""Adapter: the Gaussian theory, closed form and learned 2-D for every seed -> one table."""
from repro.core.job import Job
from repro.studies.r2f import experiments

with Job(snakemake) as job:
    table = experiments.theory_table(job.cfg, snakemake.params.seeds, job.device)
    job.write_parquet(table.assign(device=str(job.device)), snakemake.output.table)
