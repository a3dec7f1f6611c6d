"""Adapter: fed_agem figures from the per-(scenario, seed) tables."""
import pandas as pd

from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.fed_agem import figures

with Job(snakemake) as job:
    style()
    df = pd.concat([read_parquet(f) for f in snakemake.input.tables], ignore_index=True)
    save_figure(figures.accuracy(df), snakemake.output.accuracy, job.prov)
    save_figure(figures.summary(df), snakemake.output.summary, job.prov)
