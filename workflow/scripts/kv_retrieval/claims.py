"""Adapter: compute every kv_retrieval claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import expect_only, metrics_summary, records
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.kv_retrieval import claims

with Job(snakemake) as job:
    df = pd.concat([read_parquet(f) for f in snakemake.input.tables], ignore_index=True)
    found = claims.claims(df, **job.cfg)
    recs = records(expect_only(found, snakemake.params.expected, job.scale), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
