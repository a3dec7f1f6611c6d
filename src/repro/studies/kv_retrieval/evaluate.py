"""Evaluation of any arm (base included): greedy generation in left-padded batches, held-out key-value accuracy,
multi-document QA accuracy by gold position, and perplexity on a fixed held-out text (with its terms by sentence).

Evaluation sets are drawn from seed eval.seed * 1,000 + n (n: dictionaries or documents; 10,000 + n under the
default seed set), disjoint from every training seed and the same for every arm, so arms are paired by prompt;
the held-out KV prompts whose gold key-value pair occurs anywhere in the arm's training prompts are counted."""

from __future__ import annotations

import bisect
import math
import re

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from repro.studies.kv_retrieval import data as KV
from repro.studies.kv_retrieval import mdqa as QA
from repro.studies.kv_retrieval import model as M
from repro.studies.kv_retrieval.heldout import HELD_OUT_TEXT

EVAL_STRIDE = 1_000  # one evaluation stream per setting n (n < 1,000): eval.seed * EVAL_STRIDE + n


def eval_seed(ecfg: dict, n: int) -> int:
    """The seed of the evaluation set with n dictionaries or documents (config `eval.seed`: seed_set moves it)."""
    return ecfg["seed"] * EVAL_STRIDE + n


@torch.no_grad()
def generate(model, tok, prompts: list[list[int]], max_new_tokens: int, batch_size: int, device="cpu",
             desc: str | None = None) -> list[str]:
    """Greedy continuations of token-id prompts, batched: prompts sorted by length (little padding), left-padded
    so every prompt ends at the last column, decoded without special tokens, returned in the input order."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = [None] * len(prompts)
    starts = range(0, len(order), batch_size)
    for s in tqdm(starts, desc=desc or "kv_retrieval/generate", mininterval=10, disable=desc is None):
        chunk = order[s:s + batch_size]
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            p = prompts[i]
            ids[row, width - len(p):], mask[row, width - len(p):] = torch.tensor(p), 1
        gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tok.pad_token_id)
        for row, i in enumerate(chunk):
            out[i] = tok.decode(gen[row, width:], skip_special_tokens=True)
    return out


@torch.no_grad()
def perplexity(model, tok, text: str, window: int = 1024, device="cpu") -> float:
    """exp(mean next-token NLL) of `text`, in non-overlapping windows (the text is short: one window at 135M)."""
    ids = tok(text, add_special_tokens=False)["input_ids"]
    nll, n = 0.0, 0
    for s in range(0, len(ids) - 1, window):
        chunk = torch.tensor(ids[s:s + window + 1], device=device)[None]
        logits = model(input_ids=chunk[:, :-1]).logits.float()
        nll += F.cross_entropy(logits[0], chunk[0, 1:], reduction="sum").item()
        n += chunk.shape[1] - 1
    return math.exp(nll / n)


SENTENCE_END = re.compile(r"(?<=[.!?])(?=\s)")  # a split after the sentence's mark, before the space


def sentence_starts(text: str) -> list[int]:
    """Character offsets at which the sentences of `text` start (the first is 0)."""
    return [0] + [m.start() for m in SENTENCE_END.finditer(text)]


@torch.no_grad()
def sentence_nll(model, tok, text: str, window: int = 1024, device="cpu") -> pd.DataFrame:
    """The perplexity's terms by sentence: one row per sentence of `text` with the summed next-token NLL of its
    tokens (each predicted from everything before it in its window, exactly as `perplexity` scores it) and their
    count. exp(sum nll / sum tokens) is `perplexity(text)`; the sentences are the units the no-drop claim
    resamples. A token belongs to the sentence its first character is in; the text's first token has no
    prediction and is not counted."""
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, starts = enc["input_ids"], sentence_starts(text)
    unit = [bisect.bisect_right(starts, a) - 1 for a, _ in enc["offset_mapping"]]
    nll = torch.zeros(len(starts), dtype=torch.float64)
    count = torch.zeros(len(starts), dtype=torch.long)
    for s in range(0, len(ids) - 1, window):
        chunk = torch.tensor(ids[s:s + window + 1], device=device)[None]
        logits = model(input_ids=chunk[:, :-1]).logits.float()
        per_token = F.cross_entropy(logits[0], chunk[0, 1:], reduction="none").double().cpu()
        where = torch.tensor(unit[s + 1:s + chunk.shape[1]])
        nll.index_add_(0, where, per_token)
        count.index_add_(0, where, torch.ones_like(where))
    return pd.DataFrame({"qid": range(len(starts)), "nll": nll.numpy(), "tokens": count.numpy()})


def load_arm(source: str, fcfg: dict | None, state: dict | None, device="cpu"):
    """The shared start, with an arm's trained tensors loaded on top (None: the base model)."""
    model, tok = M.load(source, device)
    if state is None:
        return model, tok
    if fcfg["method"] == "lora":
        model = M.add_lora(model, fcfg["r"], fcfg["alpha"], fcfg["top_layers"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or not set(state) <= {k for k, _ in model.named_parameters()}:
        raise ValueError(f"kv_retrieval checkpoint does not fit the model: unexpected keys {unexpected[:3]}")
    return model.eval(), tok


def evaluate_arm(model, tok, arm: str, ecfg: dict, dcfg: dict, train_prompts: list[str], device="cpu",
                 nq_path=None, desc: str = "kv_retrieval/eval") -> tuple[pd.DataFrame, dict]:
    """One row per evaluated prompt (task kv or mdqa, its setting, correct 0/1), and {perplexity, kv_overlap}.

    Held-out KV prompts take the format the arm trained on: no answer template for `plain`, the template for
    base (so the answer format is stated to it) and every other arm. kv_overlap counts the held-out prompts whose
    gold (key, value) pair is written in any of the arm's training prompts."""
    seen = set().union(*map(KV.pairs_in, train_prompts)) if train_prompts else set()
    rows, overlap = [], 0
    for n_dicts in ecfg["kv_dicts"]:
        held = KV.kv_set(tok, dcfg, ecfg["kv_questions"], n_dicts, eval_seed(ecfg, n_dicts), arm != "plain")
        overlap += sum((e.gold_key, e.gold_value) in seen for e in held)
        outs = generate(model, tok, [KV.chat_prefix_ids(tok, e.prompt) for e in held], ecfg["kv_new_tokens"],
                        ecfg["batch"], device, desc=f"{desc} kv{n_dicts}")
        rows += [{"task": "kv", "dataset": "kv", "n_docs": n_dicts, "position": e.position, "where": "", "qid": j,
                  "correct": float(KV.kv_correct(e, o)), "value_correct": float(KV.value_correct(e, o)),
                  "name_correct": float(KV.name_correct(e, o)), "output": o}
                 for j, (e, o) in enumerate(zip(held, outs))]
    sets = [("fictional", n, QA.fictional_mdqa(ecfg["qa_questions"], n, QA.positions(n, ecfg["positions"]),
                                                eval_seed(ecfg, n))) for n in ecfg["qa_docs"]]
    for n in ecfg["qa_docs"]:  # the real NQ file, when the user has it (one line says so when absent)
        nq = QA.load_nq_oracle(nq_path, ecfg["qa_questions"], n, QA.positions(n, ecfg["positions"]), eval_seed(ecfg, n))
        if nq is None:
            break
        sets.append(("nq", n, nq))
    for name, n, items in sets:
        outs = generate(model, tok, [KV.chat_prefix_ids(tok, it.prompt) for it in items], ecfg["qa_new_tokens"],
                        ecfg["batch"], device, desc=f"{desc} {name}{n}")
        where = dict(zip(QA.positions(n, ecfg["positions"]), ecfg["positions"]))
        rows += [{"task": "mdqa", "dataset": name, "n_docs": n, "position": it.gold, "where": where[it.gold],
                  "qid": it.qid, "correct": QA.best_subspan_em(o, list(it.answers)), "output": o}
                 for it, o in zip(items, outs)]
    ppl = perplexity(model, tok, HELD_OUT_TEXT, device=device)
    # the perplexity's terms by sentence (task "ppl"): the units of the no-drop claim's interval
    rows += [{"task": "ppl", "dataset": "heldout", "n_docs": 0, "position": -1, "where": "", "qid": int(r.qid),
              "correct": float("nan"), "nll": float(r.nll), "tokens": int(r.tokens), "output": ""}
             for r in sentence_nll(model, tok, HELD_OUT_TEXT, device=device).itertuples()]
    return pd.DataFrame(rows), {"perplexity": ppl, "kv_overlap": overlap}

