"""Adapter: compute every task_superposition claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import expect_only, metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.task_superposition import claims

with Job(snakemake) as job:
    i, p = snakemake.input, snakemake.params
    use_seed_set(p.seed_set)  # the bootstraps move with the seed set
    screen = read_parquet(i.llm_screen)
    found = claims.scratch_claims(pd.concat([read_parquet(f) for f in i.mixing]),
                                  pd.concat([read_parquet(f) for f in i.tv_interp]), p.specs, p.gates)
    found += claims.llm_claims(screen, read_parquet(i.llm_mixing), p.model, p.n_demos, p.gates)
    found.append(claims.llm_task_vector_claim(read_parquet(i.llm_tv_layers), read_parquet(i.llm_tv_interp), p.model,
                                              screen, p.gates))
    recs = records(expect_only(found, p.expected, job.scale), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
