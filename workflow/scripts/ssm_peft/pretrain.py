"""Adapter: pretrain the Mamba classifier on digits 0-4 -> checkpoint + history (its test accuracy on the last row)."""
from repro.core.job import Job
from repro.core.train import clear_state
from repro.studies.ssm_peft import experiments

with Job(snakemake) as job:
    model, history, summary = experiments.pretrain(job.cfg, job.seed, job.device, snakemake.params.split_seed,
                                                   state_path=snakemake.params.state,
                                                   run_hash=job.prov.stamp()["config_hash"])
    print(f"[ssm_peft] data: sklearn digits (bundled); pretrained {summary}")
    job.save_checkpoint(model.state_dict(), snakemake.output.model, model.cfg.to_dict())
    job.write_parquet(history.assign(**summary, device=str(job.device)), snakemake.output.history)
    clear_state(snakemake.params.state)
