"""Adapter: train the transformer on the mixture prior -> safetensors checkpoint + loss history."""
from repro.core.job import Job
from repro.core.train import clear_state
from repro.studies.dual_modes import train as transformer

with Job(snakemake) as job:
    model, history = transformer.train_from_config(job.cfg, seed=job.seed, device=job.device,
                                                   state_path=snakemake.params.state,
                                                   run_hash=job.prov.stamp()["config_hash"])
    job.save_checkpoint(model.state_dict(), snakemake.output.model, model.cfg.to_dict())
    job.write_parquet(history, snakemake.output.history)
    clear_state(snakemake.params.state)
