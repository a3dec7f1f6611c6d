"""Adapter: compute every ftc claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.ftc import claims

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)
    i = snakemake.input
    recs = records(claims.all_claims(read_parquet(i.cons), read_parquet(i.bounds),
                                     pd.concat([read_parquet(p) for p in i.trained]),
                                     gates=snakemake.params.gates), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
