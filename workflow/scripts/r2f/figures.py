"""Adapter: r2f figures from the theory table, the per-seed sample tables and seed 0's example images."""
import pandas as pd

from repro.core.io import load_checkpoint, read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.r2f import figures

with Job(snakemake) as job:
    style()
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    theory = read_parquet(i.theory)
    samples = pd.concat([read_parquet(f) for f in i.samples], ignore_index=True)
    save_figure(figures.theory(theory), o.theory, job.prov)
    save_figure(figures.methods(samples), o.methods, job.prov)
    save_figure(figures.stop_steps(samples), o.stop_steps, job.prov)
    save_figure(figures.rarity(samples), o.rarity, job.prov)
    examples, _ = load_checkpoint(i.examples[0])
    methods = list(p.methods) + [f"r2f_{m}" for m in p.ablations]  # R2F with each ablated substitute too
    save_figure(figures.sample_grid(examples, list(p.rare)[:4], methods), o.samples, job.prov)
