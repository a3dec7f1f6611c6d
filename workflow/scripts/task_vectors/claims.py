"""Adapter: compute every task_vectors claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import metrics_summary, records
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.task_vectors import claims

with Job(snakemake) as job:
    i = snakemake.input
    recs = records(claims.all_claims(pd.concat([read_parquet(p) for p in i.tvp]),
                                     pd.concat([read_parquet(p) for p in i.ood]), snakemake.params.layers,
                                     snakemake.params.k), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
