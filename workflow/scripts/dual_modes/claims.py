"""Adapter: compute every dual_modes claim from the metric tables -> claims.json + flat metrics.json."""
from repro.core.claims import metrics_summary, records
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.dual_modes import claims

with Job(snakemake) as job:
    i = snakemake.input
    recs = records(claims.all_claims(read_parquet(i.modes), read_parquet(i.closer),
                                     [read_parquet(p) for p in i.ascent], [read_parquet(p) for p in i.evals],
                                     str(snakemake.params.transformer_delta)),
                   job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
