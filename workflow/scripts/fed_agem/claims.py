"""Adapter: compute every fed_agem claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import expect_only, metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.fed_agem import claims

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)
    df = pd.concat([read_parquet(f) for f in snakemake.input.tables], ignore_index=True)
    recs = records(expect_only(claims.claims(df, snakemake.params.gates), snakemake.params.expected, job.scale),
                   job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
