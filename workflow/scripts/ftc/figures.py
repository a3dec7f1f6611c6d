"""Adapter: ftc figures from the metric tables."""
import pandas as pd

from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.ftc import figures

with Job(snakemake) as job:
    style()
    i, o = snakemake.input, snakemake.output
    cons, trained = read_parquet(i.cons), pd.concat([read_parquet(p) for p in i.trained])
    save_figure(figures.scaling(cons, read_parquet(i.bounds), trained), o.scaling, job.prov)
    save_figure(figures.independence_of_K(cons), o.independence, job.prov)
