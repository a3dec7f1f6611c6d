"""Adapter: pretrain the frozen network f for one input dimension -> safetensors checkpoint."""
from repro.core.job import Job
from repro.studies.ftc import data

with Job(snakemake) as job:
    c, d = job.cfg, int(snakemake.params.d)
    f = data.pretrain_f(d, c["width"], c["steps"], c["lr"], job.seed + d)
    job.save_checkpoint(f.state_dict(), snakemake.output.model, {"d": d, "width": c["width"]})
