"""Adapter: train one model (baseline or TVP-loss at its prescribed layer) -> checkpoint + loss history."""
from repro.core.job import Job
from repro.core.train import clear_state
from repro.studies.task_vectors import train

with Job(snakemake) as job:
    name = snakemake.wildcards.model
    model, history = train.train(job.cfg["task"], job.cfg["model"], job.cfg["train"], seed=job.seed,
                                 device=job.device, state_path=snakemake.params.state,
                                 run_hash=job.prov.stamp()["config_hash"], desc=f"task_vectors/{name}")
    job.save_checkpoint(model.state_dict(), snakemake.output.model, model.cfg.to_dict())
    job.write_parquet(history.assign(model=name, seed=job.seed), snakemake.output.history)
    clear_state(snakemake.params.state)
