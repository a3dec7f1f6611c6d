"""The sizing trial of the small-scale fine-tune (issue 31): one seed, one run, held-out KV accuracy of the base
model and of the fine-tune after 32, 64 and 100 steps, with 95% bootstrap intervals over prompts.

Not part of the pipeline: it chose the setting written into config/studies/kv_retrieval.yaml before the measured
run, and the study page quotes its output. Its held-out prompts come from their own seed (`--eval-seed`, 20 by
default: 20,000 + n), so the pipeline's held-out set (eval.seed 10) played no part in the choice.

    python -m repro.studies.kv_retrieval.sizing --steps 100 --evals 32 64 --out sizing.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from repro.core.claims import boot_effect
from repro.core.runtime import configure_threads, seed_everything
from repro.core.train import TrainConfig, epoch_batch, fit, step_of
from repro.studies.kv_retrieval import data as KV
from repro.studies.kv_retrieval import evaluate as EV
from repro.studies.kv_retrieval import finetune as FT
from repro.studies.kv_retrieval import model as M


def score(model, tok, held: dict, new_tokens: int, batch: int) -> dict:
    """Per held-out prompt: value and name right (the paper's metric), value alone, name alone."""
    out = {}
    for n, examples in held.items():
        texts = EV.generate(model, tok, [KV.chat_prefix_ids(tok, e.prompt) for e in examples], new_tokens, batch)
        parsed = [KV.parse_answer(t) for t in texts]
        out[n] = {"kv": [float(p == (e.gold_value, e.gold_dict)) for e, p in zip(examples, parsed)],
                  "value": [float(p is not None and p[0] == e.gold_value) for e, p in zip(examples, parsed)],
                  "name": [float(p is not None and p[1] == e.gold_dict) for e, p in zip(examples, parsed)],
                  "template": [float(p is not None) for p in parsed], "outputs": texts[:4]}
    return out


def summary(base: dict, tuned: dict) -> dict:
    """Accuracies pooled over the dictionary counts, and the paired gain over base with its interval."""
    pool = {k: np.concatenate([tuned[n][k] for n in tuned]) for k in ("kv", "value", "name")}
    pool_b = {k: np.concatenate([base[n][k] for n in base]) for k in ("kv", "value", "name")}
    gain = boot_effect(pool["kv"] - pool_b["kv"], "held-out KV prompts")
    return {"kv": float(pool["kv"].mean()), "value": float(pool["value"].mean()), "name": float(pool["name"].mean()),
            "base_kv": float(pool_b["kv"].mean()), "gain": round(gain["mean"], 4), "gain_lo": round(gain["lo"], 4),
            "gain_hi": round(gain["hi"], 4), "n": gain["n"],
            **{f"kv_{n}": float(np.mean(tuned[n]["kv"])) for n in tuned},
            **{f"name_{n}": float(np.mean(tuned[n]["name"])) for n in tuned},
            **{f"value_{n}": float(np.mean(tuned[n]["value"])) for n in tuned}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--evals", type=int, nargs="*", default=[32, 64], help="steps evaluated before the last")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--n-dicts", type=int, default=4)
    ap.add_argument("--method", default="lora", choices=["lora", "full"])
    ap.add_argument("--top-layers", type=int, default=16)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup-frac", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-seed", type=int, default=20)
    ap.add_argument("--eval-dicts", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--eval-questions", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--source", default="smollm2", choices=list(M.SOURCES))
    ap.add_argument("--out", default="kv_sizing.json")
    a = ap.parse_args(argv)
    configure_threads(a.threads)
    seed_everything(a.seed)
    dcfg = {"max_token": 1024, "frac_0": 0.05, "frac_top5": 0.03, "n_dicts": a.n_dicts}
    model, tok = M.load(a.source)
    held = {n: KV.kv_set(tok, dcfg, a.eval_questions, n, EV.eval_seed({"seed": a.eval_seed}, n), True)
            for n in a.eval_dicts}
    t0 = time.process_time()
    base = score(model, tok, held, 32, 8)
    base_cpu = time.process_time() - t0
    # one epoch over steps x batch prompts drawn once: every step sees prompts it has never seen
    kv = KV.kv_set(tok, dcfg, a.steps * a.batch, a.n_dicts, a.seed, True)
    examples = [KV.training_ids(tok, e.prompt, e.answer) for e in kv]
    if a.method == "lora":
        torch.manual_seed(a.seed)
        model = M.add_lora(model, a.r, 2 * a.r, a.top_layers)
    checkpoints, cpu = {}, {"base_eval": base_cpu}
    cfg = TrainConfig(steps=a.steps, lr=a.lr, warmup=round(a.warmup_frac * a.steps), log_every=1, save_every=10**9)
    marks = set(a.evals)

    def batch_fn(g):
        idx = epoch_batch(len(examples), a.batch, a.seed, step_of(g, a.seed))
        return FT.pad_right([examples[i] for i in idx], tok.pad_token_id)

    state = {"step": 0, "t": time.process_time()}

    def at_step(m):
        state["step"] += 1
        if state["step"] in marks or state["step"] == a.steps:
            cpu[f"train_to_{state['step']}"] = time.process_time() - state["t"]
            t = time.process_time()
            checkpoints[state["step"]] = score(m, tok, held, 32, 8)
            cpu[f"eval_{state['step']}"] = time.process_time() - t
            print(state["step"], json.dumps(summary(base, checkpoints[state["step"]])), flush=True)
            state["t"] = time.process_time()
        return {}

    t_train = time.perf_counter()
    history = fit(model, batch_fn, FT.answer_loss, cfg, seed=a.seed, device=torch.device("cpu"),
                  samples_per_batch=a.batch, desc="kv sizing", evaluate=at_step, eval_every=1)
    wall = time.perf_counter() - t_train
    result = {"args": vars(a), "base": base, "checkpoints": {str(k): v for k, v in checkpoints.items()},
              "summary": {str(k): summary(base, v) for k, v in checkpoints.items()},
              "loss": history["loss"].round(4).tolist(), "cpu_s": cpu, "train_and_eval_wall_s": wall,
              "prompt_tokens": float(np.mean([len(x) for x, _ in examples]))}
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
