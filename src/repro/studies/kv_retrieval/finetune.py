"""An arm's training set and its fine-tune: chat-formatted examples with the loss on the answer tokens only,
through the shared training loop (AdamW, warmup + cosine, resumable state). The LM head runs only where a label is
set: at 135M parameters the head is a fifth of the forward cost, and the prompt tokens carry no loss.

Arms: `plain` (KV prompts without the answer template), `template` (with it), `facts` (paper scale: question
answering over fictional-facts documents, an equal token budget of real-looking text: the knowledge-injection
contrast). Training seed s draws the KV prompts from s, the facts questions from 1,000 + s and the LoRA factors'
initialisation from s; evaluation draws from eval.seed * 1,000 + n (evaluate.py), so the two never share a seed."""

from __future__ import annotations

import math

import pandas as pd
import torch
import torch.nn.functional as F

from repro.core.train import TrainConfig, epoch_batch, fit, step_of
from repro.studies.kv_retrieval import data as KV
from repro.studies.kv_retrieval import mdqa as QA
from repro.studies.kv_retrieval import model as M

IGNORE = -100
ARMS = ("plain", "template", "facts")


def pad_right(seqs: list[tuple[list[int], list[int]]], pad_id: int):
    """(input_ids, attention_mask, labels) for a training batch, padded on the right (positions stay 0..L-1)."""
    width = max(len(ids) for ids, _ in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (x, y) in enumerate(seqs):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    return ids, mask, labels


def causal_lm(model):
    """The transformers CausalLM under a peft wrapper (LoRA layers are injected into it in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def answer_loss(model, batch) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled (answer) tokens only."""
    ids, mask, labels = batch
    lm = causal_lm(model)
    hidden = lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    keep = target != IGNORE
    logits = lm.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), target[keep])


def n_steps(n_examples: int, epochs: float, batch: int) -> int:
    return max(1, math.ceil(epochs * n_examples / batch))


def finetune(model, examples: list[tuple[list[int], list[int]]], pad_id: int, cfg: dict, seed: int, device,
             state_path=None, run_hash: str = "", desc: str = "kv_retrieval/finetune"):
    """cfg: epochs, batch, lr, warmup_frac, weight_decay. Each epoch is one pass over a permutation of the
    examples (epoch_batch), so 2 epochs show every prompt twice and a resumed run sees the same batches."""
    steps = n_steps(len(examples), cfg["epochs"], cfg["batch"])
    tcfg = TrainConfig(steps=steps, lr=cfg["lr"], weight_decay=cfg.get("weight_decay", 0.0),
                       warmup=round(cfg.get("warmup_frac", 0.0) * steps), log_every=1,
                       save_every=cfg.get("save_every", 50))

    def batch_fn(g):
        idx = epoch_batch(len(examples), cfg["batch"], seed, step_of(g, seed))
        return tuple(t.to(device) for t in pad_right([examples[i] for i in idx], pad_id))

    return fit(model, batch_fn, answer_loss, tcfg, seed=seed, device=torch.device(device), state_path=state_path,
               run_hash=run_hash, samples_per_batch=cfg["batch"], desc=desc)


def training_set(arm: str, tok, dcfg: dict, seed: int) -> tuple[list, pd.DataFrame]:
    """(tokenised (input_ids, labels) pairs, one row per example with its text and token counts)."""
    if arm not in ARMS:
        raise ValueError(f"kv_retrieval arm must be one of {ARMS}, got {arm!r}")
    kv = KV.kv_set(tok, dcfg, dcfg["n_train"], dcfg["n_dicts"], seed, arm == "template")
    pairs = [(e.prompt, e.answer) for e in kv]
    tokenised = [KV.training_ids(tok, p, a) for p, a in pairs]
    if arm == "facts":  # as many QA examples as it takes to match the KV set's token count
        budget = sum(len(x) for x, _ in tokenised)
        n_docs = dcfg["facts_docs"]
        pairs, tokenised, used = [], [], 0
        for fq in QA.fictional_questions(4 * dcfg["n_train"], 1_000 + seed, n_docs - 1):
            if used >= budget:
                break
            it = QA.place(fq, fq.qid % n_docs, n_docs)  # the gold document cycles through every slot
            pairs.append((it.prompt, it.answers[0]))
            tokenised.append(KV.training_ids(tok, it.prompt, it.answers[0]))
            used += len(tokenised[-1][0])
    rows = pd.DataFrame({"prompt": [p for p, _ in pairs], "answer": [a for _, a in pairs],
                         "tokens": [len(x) for x, _ in tokenised],
                         "answer_tokens": [sum(1 for v in y if v != IGNORE) for _, y in tokenised]})
    return tokenised, rows


def train_arm(arm: str, source: str, dcfg: dict, fcfg: dict, seed: int, device="cpu", state_path=None,
              run_hash: str = ""):
    """(fine-tuned model, tokenizer, its training rows, loss history). fcfg.method: lora (peft, top layers) or
    full (every weight)."""
    model, tok = M.load(source, device)
    examples, rows = training_set(arm, tok, dcfg, seed)
    if fcfg["method"] == "lora":
        torch.manual_seed(seed)  # the adapters' random init: the job's seed, not the process's default state
        model = M.add_lora(model, fcfg["r"], fcfg["alpha"], fcfg["top_layers"])
    history = finetune(model, examples, tok.pad_token_id, fcfg, seed, device, state_path, run_hash,
                       desc=f"kv_retrieval/{arm} s{seed}")
    return model.eval(), tok, rows, history
