"""Adapter: compute every entp claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import expect_only, metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.entp import claims

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)
    i = snakemake.input
    found = claims.all_claims(pd.concat([read_parquet(p) for p in i.count3]),
                              pd.concat([read_parquet(p) for p in i.addition]),
                              pd.concat([read_parquet(p) for p in i.length]), gates=snakemake.params.gates,
                              margins=snakemake.params.margins)
    recs = records(expect_only(found, snakemake.params.expected, job.scale), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
