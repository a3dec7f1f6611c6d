"""Adapter: train one from-scratch model on single-task prompts -> checkpoint + loss history."""
from repro.core.job import Job
from repro.core.train import clear_state
from repro.studies.task_superposition import scratch

with Job(snakemake) as job:
    name, c = snakemake.wildcards.model, job.cfg
    model, history = scratch.train(c["spec"], c["model"], c["train"], c["n_demos"], seed=job.seed, device=job.device,
                                   state_path=snakemake.params.state, run_hash=job.prov.stamp()["config_hash"],
                                   desc=f"task_superposition/{name}")
    job.save_checkpoint(model.state_dict(), snakemake.output.model, model.cfg.to_dict())
    job.write_parquet(history.assign(model=name, seed=job.seed), snakemake.output.history)
    clear_state(snakemake.params.state)
