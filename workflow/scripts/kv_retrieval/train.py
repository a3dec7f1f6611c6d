"""Adapter: fine-tune one arm for one seed -> the trained tensors (LoRA factors, or all weights), the loss history
and the training prompts as chat messages (the paper's jsonl shape)."""
import json

from repro.core.io import atomic_path
from repro.core.job import Job
from repro.core.train import clear_state
from repro.studies.kv_retrieval import finetune
from repro.studies.kv_retrieval.model import adapter_state, n_trainable

with Job(snakemake) as job:
    cfg, out = job.cfg, snakemake.output
    model, tok, rows, history = finetune.train_arm(
        snakemake.params.arm, cfg["model"], cfg["data"], cfg["finetune"], job.seed, job.device,
        state_path=snakemake.params.state, run_hash=job.prov.stamp()["config_hash"])
    print(f"[kv_retrieval] data: {len(rows)} synthetic prompts, {rows.tokens.sum()} tokens "
          f"({rows.answer_tokens.sum()} in the loss); {n_trainable(model)} trainable parameters")
    job.save_checkpoint(adapter_state(model), out.model, {**cfg["finetune"], "model": cfg["model"]})
    job.write_parquet(history.assign(n_examples=len(rows), tokens=int(rows.tokens.sum()), device=str(job.device)),
                      out.history)
    with atomic_path(out.data) as tmp, open(tmp, "w") as f:
        for p, a in zip(rows.prompt, rows.answer):
            messages = [{"role": "user", "content": p}, {"role": "assistant", "content": a}]
            f.write(json.dumps({"messages": messages}) + "\n")
    clear_state(snakemake.params.state)
