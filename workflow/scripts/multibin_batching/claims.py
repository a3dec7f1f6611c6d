"""Adapter: compute every multibin_batching claim -> claims.json + flat metrics.json."""
from repro.core.claims import metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.multibin_batching import claims

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)
    i = snakemake.input
    recs = records(claims.all_claims(read_parquet(i.capacity), read_parquet(i.equal_mass),
                                     read_parquet(i.heavy_tail), read_parquet(i.noise), read_parquet(i.load),
                                     read_parquet(i.llm), read_parquet(i.steps), read_parquet(i.planned),
                                     snakemake.params.gain_tolerance, snakemake.params.step_gain_tolerance),
                   job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
