"""Adapter: smallest trainable width m* per (K, d), N and seed for one depth -> parquet."""
from repro.core.job import Job
from repro.studies.ftc import experiments

with Job(snakemake) as job:
    c = job.cfg
    fs = experiments.load_fs(snakemake.input.models)
    table = experiments.trained_table(fs, int(snakemake.params.depth), c["problems"], c["Ns"], c["seeds"],
                                      c["steps"], c["lr"], c["tol"], c["m_max"], job.device)
    job.write_parquet(table, snakemake.output.table)
