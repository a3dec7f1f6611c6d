"""kv_retrieval's experiments: build an arm's training set (chat-formatted, loss on the answer), fine-tune from the
shared start, and evaluate any arm (base included) on held-out key-value prompts, multi-document QA with the gold
document at each position, and a fixed held-out text.

Arms: `plain` (KV prompts without the answer template), `template` (with it), `facts` (paper scale: question
answering over fictional-facts documents, an equal token budget of real-looking text: the knowledge-injection
contrast). Evaluation seeds are fixed and disjoint from the training seeds (training seed s draws from s, the
evaluation sets from 10,000 + n), and the overlap of held-out and training prompts is counted."""

from __future__ import annotations

import pandas as pd

from repro.studies.kv_retrieval import data as KV
from repro.studies.kv_retrieval import evaluate as EV
from repro.studies.kv_retrieval import finetune as FT
from repro.studies.kv_retrieval import mdqa as QA
from repro.studies.kv_retrieval import model as M
from repro.studies.kv_retrieval.heldout import HELD_OUT_TEXT

ARMS = ("plain", "template", "facts")
EVAL_SEED = 10_000


def counter(tok):
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def kv_set(tok, dcfg: dict, n: int, n_dicts: int, seed: int, with_template: bool):
    return KV.make_examples(n, n_dicts, seed, with_template, count_tokens=counter(tok), max_token=dcfg["max_token"],
                            frac_0=dcfg["frac_0"], frac_top5=dcfg["frac_top5"])


def training_set(arm: str, tok, dcfg: dict, seed: int) -> tuple[list, pd.DataFrame]:
    """(tokenised (input_ids, labels) pairs, one row per example with its text and token counts)."""
    if arm not in ARMS:
        raise ValueError(f"kv_retrieval arm must be one of {ARMS}, got {arm!r}")
    kv = kv_set(tok, dcfg, dcfg["n_train"], dcfg["n_dicts"], seed, arm == "template")
    pairs = [(e.prompt, e.answer) for e in kv]
    if arm == "facts":  # as many QA examples as it takes to match the KV set's token count
        budget = sum(len(KV.training_ids(tok, p, a)[0]) for p, a in pairs)
        pairs, used, k = [], 0, 0
        items = QA.fictional_mdqa(4 * dcfg["n_train"], dcfg["facts_docs"], [0], 1_000 + seed)
        while used < budget and k < len(items):
            it = items[k]
            ans = it.answers[0]
            pairs.append((it.prompt, ans))
            used += len(KV.training_ids(tok, it.prompt, ans)[0])
            k += 1
    tokenised = [KV.training_ids(tok, p, a) for p, a in pairs]
    rows = pd.DataFrame({"prompt": [p for p, _ in pairs], "answer": [a for _, a in pairs],
                         "tokens": [len(x) for x, _ in tokenised],
                         "answer_tokens": [sum(1 for v in y if v != -100) for _, y in tokenised]})
    return tokenised, rows


def train_arm(arm: str, source: str, dcfg: dict, fcfg: dict, seed: int, device="cpu", state_path=None,
              run_hash: str = ""):
    """(fine-tuned model, tokenizer, its training rows, loss history). fcfg.method: lora (peft, top layers) or
    full (every weight)."""
    model, tok = M.load(source, device)
    examples, rows = training_set(arm, tok, dcfg, seed)
    if fcfg["method"] == "lora":
        model = M.add_lora(model, fcfg["r"], fcfg["alpha"], fcfg["top_layers"])
    history = FT.finetune(model, examples, tok.pad_token_id, fcfg, seed, device, state_path, run_hash,
                          desc=f"kv_retrieval/{arm} s{seed}")
    return model.eval(), tok, rows, history


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


def evaluate_arm(model, tok, ecfg: dict, dcfg: dict, train_prompts: set, device="cpu", nq_path=None,
                 desc: str = "kv_retrieval/eval") -> tuple[pd.DataFrame, dict]:
    """One row per evaluated prompt (task kv or mdqa, its setting, correct 0/1), and {perplexity, kv_overlap}.

    Held-out KV prompts use the answer-template variant for every arm, so the answer format is stated to the
    base and no-template models too (the no-template arm learned that same answer from its targets)."""
    rows, overlap = [], 0
    for n_dicts in ecfg["kv_dicts"]:
        held = kv_set(tok, dcfg, ecfg["kv_questions"], n_dicts, EVAL_SEED + n_dicts, True)
        overlap += sum(e.prompt in train_prompts for e in held)
        outs = EV.generate(model, tok, [KV.chat_prefix_ids(tok, e.prompt) for e in held], ecfg["kv_new_tokens"],
                           ecfg["batch"], device, desc=f"{desc} kv{n_dicts}")
        rows += [{"task": "kv", "dataset": "kv", "n_docs": n_dicts, "position": e.position, "where": "", "qid": j,
                  "correct": float(KV.kv_correct(e, o)), "value_correct": float(KV.value_correct(e, o)),
                  "output": o} for j, (e, o) in enumerate(zip(held, outs))]
    sets = [("fictional", n, QA.fictional_mdqa(ecfg["qa_questions"], n, QA.positions(n, ecfg["positions"]),
                                                EVAL_SEED + n)) for n in ecfg["qa_docs"]]
    for n in ecfg["qa_docs"]:  # the real NQ file, when the user has it (one line says so when absent)
        nq = QA.load_nq_oracle(nq_path, ecfg["qa_questions"], n, QA.positions(n, ecfg["positions"]), EVAL_SEED + n)
        if nq is None:
            break
        sets.append(("nq", n, nq))
    for name, n, items in sets:
        outs = EV.generate(model, tok, [KV.chat_prefix_ids(tok, it.prompt) for it in items], ecfg["qa_new_tokens"],
                           ecfg["batch"], device, desc=f"{desc} {name}{n}")
        where = dict(zip(QA.positions(n, ecfg["positions"]), ecfg["positions"]))
        rows += [{"task": "mdqa", "dataset": name, "n_docs": n, "position": it.gold, "where": where[it.gold],
                  "qid": it.qid, "correct": QA.best_subspan_em(o, list(it.answers)), "output": o}
                 for it, o in zip(items, outs)]
    ppl = EV.perplexity(model, tok, HELD_OUT_TEXT, device=device)
    return pd.DataFrame(rows), {"perplexity": ppl, "kv_overlap": overlap}

