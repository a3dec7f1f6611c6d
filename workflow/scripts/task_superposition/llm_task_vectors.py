"""Adapter: task vectors in the pretrained LLM -> zero-shot patching by layer and the interpolation along lam."""
from repro.core.job import Job
from repro.studies.task_superposition import experiments

with Job(snakemake) as job:
    tables = experiments.llm_task_vector_experiment(job.cfg, job.cfg["tv"], seed=job.seed, device=job.device)
    for key, table in tables.items():
        job.write_parquet(table, snakemake.output[key])
