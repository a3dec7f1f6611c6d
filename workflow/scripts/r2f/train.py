"""Adapter: the denoiser on the long-tailed world for one seed -> EMA checkpoint + loss history."""
import pandas as pd

from repro.core.job import Job
from repro.studies.r2f import experiments

with Job(snakemake) as job:
    cfg = job.cfg
    model, losses = experiments.train_denoiser(cfg["world"], cfg["denoiser"], job.seed, job.device,
                                               desc=f"r2f/denoiser s{job.seed}")
    print(f"[r2f] data: procedural renders; final loss (mean of the last 100 steps) {sum(losses[-100:]) / len(losses[-100:]):.4f}")
    job.save_checkpoint(model.state_dict(), snakemake.output.model, {**cfg["denoiser"], "size": cfg["world"]["size"]})
    history = pd.DataFrame({"step": range(1, len(losses) + 1), "loss": losses})
    job.write_parquet(history.assign(device=str(job.device)), snakemake.output.history)
