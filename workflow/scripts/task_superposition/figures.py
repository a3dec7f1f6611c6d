"""Adapter: task_superposition figures from the evaluation tables."""
import pandas as pd

from repro.core.claims import use_seed_set
from repro.core.io import read_parquet
from repro.core.job import Job
from repro.core.plotting import save_figure, style
from repro.studies.task_superposition import figures

with Job(snakemake) as job:
    use_seed_set(snakemake.params.seed_set)  # the curves' bootstrap intervals
    style()
    i, o, specs = snakemake.input, snakemake.output, snakemake.params.specs
    mixing = pd.concat([read_parquet(p) for p in i.mixing])
    save_figure(figures.scratch_mixing(mixing, specs), o.mixing, job.prov)
    save_figure(figures.scratch_per_prompt(mixing), o.per_prompt, job.prov)
    save_figure(figures.task_vector_interpolation(pd.concat([read_parquet(p) for p in i.tv_layers]),
                                                  pd.concat([read_parquet(p) for p in i.tv_interp])), o.tv, job.prov)
    history = pd.concat([read_parquet(p) for p in i.train])
    save_figure(figures.learning_curves(history, snakemake.params.gate), o.learning, job.prov)
    save_figure(figures.llm_mixing(read_parquet(i.llm), snakemake.params.model), o.llm, job.prov)
    save_figure(figures.llm_task_vectors(read_parquet(i.llm_tv_layers), read_parquet(i.llm_tv_interp),
                                         snakemake.params.model), o.llm_tv, job.prov)
