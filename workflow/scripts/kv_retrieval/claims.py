"""Adapter: compute every kv_retrieval claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import expect_only, metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.kv_retrieval import claims

with Job(snakemake) as job:
    p = snakemake.params
    use_seed_set(p.seed_set)  # the bootstraps move with the seed set
    df = pd.concat([read_parquet(f) for f in snakemake.input.tables], ignore_index=True)
    history = pd.concat([read_parquet(f).assign(arm=arm, seed=int(seed))
                         for f, (arm, seed) in zip(snakemake.input.histories, p.history_keys)], ignore_index=True)
    found = claims.claims(df, history=history, gates=p.gates, **job.cfg)
    recs = records(expect_only(found, p.expected, job.scale), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
