"""Adapter: task_vectors figures from the evaluation tables."""
import pandas as pd

from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.task_vectors import figures

with Job(snakemake) as job:
    style()
    i, o = snakemake.input, snakemake.output
    layers = snakemake.params.layers
    tvp = pd.concat([read_parquet(p) for p in i.tvp])
    save_figure(figures.tvp_by_layer(tvp, layers, snakemake.params.k), o.tvp, job.prov)
    save_figure(figures.location(tvp, layers), o.location, job.prov)
    save_figure(figures.pca(pd.concat([read_parquet(p) for p in i.pca]), snakemake.params.discrete), o.pca, job.prov)
    save_figure(figures.ood(pd.concat([read_parquet(p) for p in i.ood])), o.ood, job.prov)
