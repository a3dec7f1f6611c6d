"""Adapter: one trained model -> mixed-task prompt table, per-layer patching, task-vector interpolation."""
from repro.core.io import load_checkpoint
from repro.core.job import Job
from repro.models.gpt import GPT, GPTConfig
from repro.studies.task_superposition import experiments

with Job(snakemake) as job:
    name = snakemake.wildcards.model
    state, config = load_checkpoint(snakemake.input.model, job.device)
    model = GPT(GPTConfig(**config))
    model.load_state_dict(state)
    tables = experiments.evaluate_scratch(model, job.cfg["spec"], job.cfg, seed=job.seed, device=job.device)
    for key, table in tables.items():
        job.write_parquet(table.assign(model=name, seed=job.seed), snakemake.output[key])
