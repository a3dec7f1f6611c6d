"""Adapter: transformer vs Bayes predictor on the same in-context prompts -> parquet."""
from fractions import Fraction

from repro.core.job import Job
from repro.studies.dual_modes import evaluate

with Job(snakemake) as job:
    table = evaluate.evaluate_checkpoint(snakemake.input.model, job.cfg, seed=job.seed, device=job.device)
    job.write_parquet(table.assign(delta=str(Fraction(job.cfg["delta"]))), snakemake.output.table)
