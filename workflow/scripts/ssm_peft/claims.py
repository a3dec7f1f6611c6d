"""Adapter: compute every ssm_peft claim -> claims.json + flat metrics.json."""
import pandas as pd

from repro.core.claims import expect_only, metrics_summary, records, use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.ssm_peft import claims

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)
    i, p = snakemake.input, snakemake.params
    s4 = pd.concat([read_parquet(f) for f in i.synthetic])
    ft = pd.concat([read_parquet(f) for f in i.finetune])
    pretrain_accuracy = float(read_parquet(i.pretrain)["test_accuracy"].iloc[-1])  # the pretrained model's gate
    found = (claims.s4_claims(s4, p.budgets, p.gates, p.thresholds)
             + claims.mamba_claims(ft, p.roles, p.gates, pretrain_accuracy, p.thresholds))
    recs = records(expect_only(found, p.expected, job.scale), job.scale)
    job.write_json(recs, snakemake.output.claims)
    job.write_json(metrics_summary(recs), snakemake.output.metrics)
