"""Adapter: kv_retrieval figures from the evaluation tables."""
import pandas as pd

from repro.core.claims import use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.kv_retrieval import figures

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)  # the error bars' bootstrap
    style()
    df = pd.concat([read_parquet(f) for f in snakemake.input.tables], ignore_index=True)
    save_figure(figures.positions(df), snakemake.output.positions, job.prov)
    save_figure(figures.kv(df), snakemake.output.kv, job.prov)
    save_figure(figures.perplexity(df), snakemake.output.perplexity, job.prov)
