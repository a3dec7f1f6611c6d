"""Adapter: the pretrained LLM on single-task screens and mixed-task prompts -> two tables."""
from repro.core.job import Job
from repro.studies.task_superposition import experiments

with Job(snakemake) as job:
    tables = experiments.llm_experiment(job.cfg, seed=job.seed, device=job.device)
    job.write_parquet(tables["screen"], snakemake.output.screen)
    job.write_parquet(tables["mixing"], snakemake.output.mixing)
