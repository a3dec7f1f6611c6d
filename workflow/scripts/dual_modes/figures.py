"""Adapter: every dual_modes figure from the metric tables."""
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.studies.dual_modes import figures

with Job(snakemake) as job:
    i, o = snakemake.input, snakemake.output
    modes = read_parquet(i.modes)
    job.save_figure(figures.modes(modes), o.modes)
    job.save_figure(figures.posterior(modes), o.posterior)
    job.save_figure(figures.closer_task(read_parquet(i.closer)), o.closer)
    job.save_figure(figures.early_ascent([read_parquet(p) for p in i.ascent]), o.ascent)
    job.save_figure(figures.transformer_vs_bayes([read_parquet(p) for p in i.evals],
                                                 [read_parquet(p) for p in i.histories]), o.transformer)
