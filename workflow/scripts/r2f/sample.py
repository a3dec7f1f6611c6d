"""Adapter: every guidance method sampled on the evaluated pairs and judged, for one seed -> one table + example
images."""
from repro.core.job import Job
from repro.studies.r2f import experiments

with Job(snakemake) as job:
    cfg, i = job.cfg, snakemake.input
    model, dcfg = experiments.load_denoiser(i.denoiser, job.device)
    judge = experiments.load_judge(i.judge, job.device)
    table, examples = experiments.sample_table(model, judge, cfg["world"], cfg["planner"], cfg["sampling"],
                                               dcfg["n_train_steps"], job.seed, job.device,
                                               desc=f"r2f/sample s{job.seed}")
    job.write_parquet(table.assign(device=str(job.device)), snakemake.output.table)
    job.save_checkpoint(examples, snakemake.output.examples, {"kind": "example images, uint8"})
