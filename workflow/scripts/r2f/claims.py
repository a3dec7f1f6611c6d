"""Adapter: compute every r2f claim -> claims.json + flat metrics.json."""
import json

import pandas as pd

from repro.core.claims import expect_only, metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.r2f import claims

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)  # the two-level bootstraps move with the seed set
    i, p = snakemake.input, snakemake.params
    samples = pd.concat([read_parquet(f) for f in i.samples], ignore_index=True)
    with open(i.judge) as f:
        keep = ("colour_acc", "shape_acc", "overlap", "n_train", "n_test")
        judge = {k: v for k, v in json.load(f).items() if k in keep}
    found = claims.claims(read_parquet(i.theory), samples, judge, p.gates, p.thresholds, p.substitute)
    recs = records(expect_only(found, p.expected, job.scale), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
