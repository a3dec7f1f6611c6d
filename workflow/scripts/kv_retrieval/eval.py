"""Adapter: evaluate one arm (base: the shared start) -> one row per evaluated prompt."""
import json

from repro.core.io import load_checkpoint
from repro.core.job import Job
from repro.studies.kv_retrieval import evaluate

with Job(snakemake) as job:
    cfg, i, arm = job.cfg, snakemake.input, snakemake.params.arm
    state, train_prompts = None, []
    if arm != "base":
        state, _ = load_checkpoint(i.model, job.device)
        with open(i.data) as f:
            train_prompts = [json.loads(line)["messages"][0]["content"] for line in f]
    model, tok = evaluate.load_arm(cfg["model"], cfg["finetune"], state, job.device)
    table, summary = evaluate.evaluate_arm(model, tok, arm, cfg["eval"], cfg["data"], train_prompts, job.device,
                                           cfg["nq_path"], desc=f"kv_retrieval/eval {arm} s{job.seed}")
    print(f"[kv_retrieval] {arm} s{job.seed}: {summary}")
    job.write_parquet(table.assign(arm=arm, seed=-1 if arm == "base" else job.seed, **summary,
                                   device=str(job.device)), snakemake.output.table)
