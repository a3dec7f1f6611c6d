"""Adapter: compute every dual_modes claim from the metric tables -> claims.json + flat metrics.json."""
from fractions import Fraction

from repro.core.claims import metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.dual_modes import claims

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)
    i = snakemake.input
    evals = [read_parquet(p) for p in i.evals]  # every (delta, seed); the headline delta's are the first ones
    headline = str(Fraction(snakemake.params.transformer_delta))  # "1/16", or "1" for 1/1, as the tables
    recs = records(claims.all_claims(read_parquet(i.modes), read_parquet(i.closer),
                                     [read_parquet(p) for p in i.ascent],
                                     [e for e in evals if e.delta.iloc[0] == headline], headline, evals,
                                     gates=snakemake.params.gates),
                   job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
