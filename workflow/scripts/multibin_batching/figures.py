"""Adapter: multibin_batching figures from the metric tables."""
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.multibin_batching import figures

with Job(snakemake) as job:
    style()
    i, o = snakemake.input, snakemake.output
    save_figure(figures.capacity_vs_k(read_parquet(i.capacity)), o.capacity, job.prov)
    save_figure(figures.load_sweep(read_parquet(i.load)), o.load, job.prov)
    save_figure(figures.noise(read_parquet(i.noise)), o.noise, job.prov)
    save_figure(figures.heavy_tail(read_parquet(i.heavy_tail), snakemake.params.heavy_tail, job.seed), o.heavy_tail,
                job.prov)
    save_figure(figures.llm_gain(read_parquet(i.llm), read_parquet(i.steps)), o.llm, job.prov)
