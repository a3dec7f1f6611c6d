"""Adapter: one simulator experiment (heavy_tail, noise or load), chosen by the rule's wildcard."""
from repro.core.job import Job
from repro.studies.multibin_batching import experiments

RUN = {"heavy_tail": experiments.heavy_tail, "noise": experiments.noise_ablation, "load": experiments.load_sweep}

with Job(snakemake) as job:
    job.write_parquet(RUN[snakemake.wildcards.experiment](job.cfg, job.seed), snakemake.output.table)
