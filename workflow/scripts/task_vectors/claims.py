"""Adapter: compute every task_vectors claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.task_vectors import claims

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)
    i, p = snakemake.input, snakemake.params

    def table(paths):
        return pd.concat([read_parquet(f) for f in paths])

    recs = records(claims.all_claims(table(i.tvp), table(i.ood), table(i.history), p.layers, p.gates, p.k),
                   job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
