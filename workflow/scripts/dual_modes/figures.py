"""Adapter: every dual_modes figure from the metric tables."""
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.dual_modes import figures

with Job(snakemake) as job:
    style()
    i, o = snakemake.input, snakemake.output
    modes = read_parquet(i.modes)
    save_figure(figures.modes(modes), o.modes, job.prov)
    save_figure(figures.posterior(modes), o.posterior, job.prov)
    save_figure(figures.closer_task(read_parquet(i.closer)), o.closer, job.prov)
    save_figure(figures.early_ascent([read_parquet(p) for p in i.ascent]), o.ascent, job.prov)
    save_figure(figures.transformer_vs_bayes([read_parquet(p) for p in i.evals],
                                             [read_parquet(p) for p in i.histories]), o.transformer, job.prov)
    save_figure(figures.fig9_crossover([read_parquet(p) for p in i.fig9]), o.fig9, job.prov)
