"""Adapter: ssm_peft figures from the per-seed tables."""
import pandas as pd

from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.ssm_peft import figures

with Job(snakemake) as job:
    style()
    i = snakemake.input
    s4 = pd.concat([read_parquet(p) for p in i.synthetic])
    ft = pd.concat([read_parquet(p) for p in i.finetune])
    save_figure(figures.budget(s4, ft), snakemake.output.budget, job.prov)
