"""Adapter: Figure 4 sweep (retrieval vs learning errors, posterior weights) -> parquet."""
from repro.core.config import number
from repro.core.job import Job
from repro.studies.dual_modes import experiments

with Job(snakemake) as job:
    c = job.cfg
    table = experiments.retrieval_vs_learning([number(d) for d in c["deltas"]], c["ks"], c["n_prompts"],
                                              job.seed, job.device, snakemake.params.chunk)
    job.write_parquet(table, snakemake.output.table)
