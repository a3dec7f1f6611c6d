"""Adapter: the toy judge on balanced renders -> checkpoint + its held-out accuracy."""
from repro.core.job import Job
from repro.studies.r2f import experiments

with Job(snakemake) as job:
    judge, metrics = experiments.train_judge(job.cfg["world"], job.cfg["judge"], job.seed, job.device)
    print(f"[r2f] data: procedural renders; judge held-out {metrics}")
    job.save_checkpoint(judge.state_dict(), snakemake.output.model, {"kind": "judge"})
    job.write_json({**metrics, "device": str(job.device)}, snakemake.output.metrics)
