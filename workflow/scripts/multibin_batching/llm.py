"""Adapter: real static batched generation -> tokens/s per k, and decode step time per batch size."""
from repro.core.job import Job
from repro.studies.multibin_batching import experiments

with Job(snakemake) as job:
    throughput, steps = experiments.llm(job.cfg, seed=job.seed, device=job.device)
    job.write_parquet(throughput, snakemake.output.throughput)
    job.write_parquet(steps, snakemake.output.steps)
    job.write_parquet(experiments.planned_step_gain(job.cfg, job.seed), snakemake.output.planned)
