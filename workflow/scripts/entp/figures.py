"""Adapter: entp figures from the metric tables."""
import pandas as pd

from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.entp import figures

with Job(snakemake) as job:
    style()
    i, o = snakemake.input, snakemake.output
    save_figure(figures.count3_curves(pd.concat([read_parquet(p) for p in i.count3])), o.count3, job.prov)
    save_figure(figures.sample_efficiency(pd.concat([read_parquet(p) for p in i.addition])), o.addition, job.prov)
    save_figure(figures.length_generalisation(pd.concat([read_parquet(p) for p in i.length]),
                                              snakemake.params.train_max_digits), o.length, job.prov)
