"""Adapter: compute every ftc claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import metrics_summary, records
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.ftc import claims

with Job(snakemake) as job:
    i = snakemake.input
    recs = records(claims.all_claims(read_parquet(i.cons), read_parquet(i.bounds),
                                     pd.concat([read_parquet(p) for p in i.trained])), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
