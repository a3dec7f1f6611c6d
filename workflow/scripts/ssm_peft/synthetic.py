"""Adapter: every PEFT method on the synthetic deep S4D for one seed -> one table."""
from repro.core.job import Job
from repro.studies.ssm_peft import experiments

with Job(snakemake) as job:
    table = experiments.synthetic(job.cfg, job.seed, job.device, desc=f"ssm_peft/synthetic s{job.seed}")
    job.write_parquet(table.assign(device=str(job.device)), snakemake.output.table)
