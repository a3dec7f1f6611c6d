"""Adapter: TVP sweep, OOD ICL and task-vector PCA of one trained model."""
from repro.core.job import Job
from repro.studies.task_vectors import evaluate

with Job(snakemake) as job:
    tables = evaluate.evaluate_checkpoint(snakemake.input.model, job.cfg, job.device, seed=job.seed)
    for name, table in tables.items():
        job.write_parquet(table.assign(model=snakemake.wildcards.model, seed=job.seed), snakemake.output[name])
