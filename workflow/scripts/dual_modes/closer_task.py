"""Adapter: Figure 5 sweep (risk vs k for tasks at several distances from group 1) -> parquet."""
from repro.core.config import number
from repro.core.job import Job
from repro.studies.dual_modes import experiments

with Job(snakemake) as job:
    c = job.cfg
    table = experiments.closer_task([number(d) for d in c["deltas"]], [number(r) for r in c["rs"]], c["ks"],
                                    c["n_prompts"], job.seed, job.device, snakemake.params.chunk)
    job.write_parquet(table, snakemake.output.table)
