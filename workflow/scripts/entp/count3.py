"""Adapter: train one Count3 model -> safetensors checkpoint + learning curves (loss, token/seq accuracy)."""
from repro.core.job import Job
from repro.core.train import clear_state
from repro.studies.entp import experiments

with Job(snakemake) as job:
    model, history = experiments.count3(job.cfg, snakemake.wildcards.model, seed=job.seed, device=job.device,
                                        state_path=snakemake.params.state, run_hash=job.prov.stamp()["config_hash"])
    job.save_checkpoint(model.state_dict(), snakemake.output.model, model.cfg.to_dict())
    job.write_parquet(history, snakemake.output.history)
    clear_state(snakemake.params.state)
