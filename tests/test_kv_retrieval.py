"""kv_retrieval: the answer-only loss against transformers' own loss, batched left-padded generation against
one-at-a-time greedy, a LoRA step that moves only the adapters (top layers only), checkpoints that round-trip,
and claim rules that fail on tables where the paper is wrong. A tiny random Llama everywhere, except one test
that loads SmolLM2's GGUF."""

import numpy as np
import pandas as pd
import pytest
import torch

from repro.studies.kv_retrieval import claims as C
from repro.studies.kv_retrieval import data as KV
from repro.studies.kv_retrieval import evaluate as EV
from repro.studies.kv_retrieval import finetune as FT
from repro.studies.kv_retrieval import mdqa as QA
from repro.studies.kv_retrieval import model as M


@pytest.fixture(scope="module")
def tiny():
    return M.load("tiny-random")


def _examples(tok, n=4, n_dicts=3, seed=0):
    kv = KV.make_examples(n, n_dicts, seed, True)
    return [KV.training_ids(tok, e.prompt, e.answer) for e in kv]


def test_answer_loss_equals_full_logit_loss_on_the_same_labels(tiny):
    model, tok = tiny
    ids, mask, labels = FT.pad_right(_examples(tok), tok.pad_token_id)
    ours = FT.answer_loss(model, (ids, mask, labels))
    ref = model(input_ids=ids, attention_mask=mask, labels=labels).loss  # shifts inside, ignores -100
    assert torch.allclose(ours, ref, atol=1e-5)
    assert (labels != -100).sum() < (mask == 1).sum() / 4  # the prompt carries no loss


def test_batched_left_padded_generation_equals_one_at_a_time_greedy(tiny):
    model, tok = tiny
    prompts = [KV.chat_prefix_ids(tok, p) for p in ["ab", "a much longer prompt than the first", "mid size one"]]
    batched = EV.generate(model, tok, prompts, 6, batch_size=3)
    alone = [EV.generate(model, tok, [p], 6, batch_size=1)[0] for p in prompts]
    assert batched == alone
    assert len({len(p) for p in prompts}) == 3  # the batch really was padded


def test_lora_step_moves_only_adapters_in_the_top_layers(tiny):
    model, tok = M.load("tiny-random")
    model = M.add_lora(model, r=2, alpha=4, top_layers=1)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names) and all(".layers.1." in n for n in names)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg = {"epochs": 2, "batch": 2, "lr": 1e-2}
    FT.finetune(model, _examples(tok), tok.pad_token_id, cfg, seed=0, device="cpu")
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and moved <= set(names)
    assert any("lora_B" in n for n in moved)  # B starts at zero: it must have learned something


def test_full_finetune_learns_the_answer_and_checkpoints_round_trip(tiny):
    _, tok = tiny
    dcfg = {"n_train": 4, "n_dicts": 3, "max_token": 1024, "frac_0": 0.05, "frac_top5": 0.03, "facts_docs": 3}
    full = {"method": "full", "epochs": 20, "batch": 4, "lr": 1e-2}
    model, tok, rows, hist = FT.train_arm("template", "tiny-random", dcfg, full, seed=0)
    assert hist["loss"].iloc[-1] < 0.6 * hist["loss"].iloc[0]  # the answer's fixed words are learned
    assert (rows.answer_tokens < rows.tokens).all()
    ids = torch.tensor([KV.chat_prefix_ids(tok, rows.prompt[0])])
    again, _ = EV.load_arm("tiny-random", full, M.adapter_state(model), "cpu")
    assert torch.allclose(again(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)
    lora = {"method": "lora", "r": 2, "alpha": 4, "top_layers": 1, "epochs": 2, "batch": 4, "lr": 1e-2}
    model, *_ = FT.train_arm("template", "tiny-random", dcfg, lora, seed=0)
    again, _ = EV.load_arm("tiny-random", lora, M.adapter_state(model), "cpu")
    assert torch.allclose(again(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)
    with pytest.raises(ValueError, match="does not fit"):
        EV.load_arm("tiny-random", lora, {"nope.weight": torch.zeros(1)}, "cpu")


def test_facts_arm_matches_the_kv_token_budget(tiny):
    _, tok = tiny
    dcfg = {"n_train": 4, "n_dicts": 3, "max_token": 1024, "frac_0": 0.05, "frac_top5": 0.03, "facts_docs": 3}
    _, kv = FT.training_set("template", tok, dcfg, 0)
    _, facts = FT.training_set("facts", tok, dcfg, 0)
    assert kv.tokens.sum() <= facts.tokens.sum() < kv.tokens.sum() + facts.tokens.max() + 1
    _, more = FT.training_set("facts", tok, {**dcfg, "n_train": 12}, 0)
    gold = [q.gold_doc[0] for q in QA.fictional_questions(len(more), 1_000, 2)]
    slots = [int(p.split(f"(Title: {g})")[0].split("Document [")[-1].split("]")[0])
             for p, g in zip(more.prompt, gold)]  # the 1-based document number in front of the gold title
    assert len(slots) >= 3 and slots == [q % 3 + 1 for q in range(len(slots))]  # cycles through every slot


def test_plain_arm_is_evaluated_on_its_own_format_and_overlap_counts_gold_pairs(tiny, monkeypatch):
    model, tok = tiny
    dcfg = {"n_train": 4, "n_dicts": 3, "max_token": 1024, "frac_0": 0.05, "frac_top5": 0.03, "facts_docs": 3}
    ecfg = {"kv_dicts": [3], "kv_questions": 3, "kv_new_tokens": 2, "qa_docs": [3], "qa_questions": 1,
            "positions": ["first"], "qa_new_tokens": 2, "batch": 4}
    seen = []
    monkeypatch.setattr(EV, "generate", lambda m, t, prompts, *a, **k: seen.append(t.decode(prompts[0])) or
                        [""] * len(prompts))
    held = KV.kv_set(tok, dcfg, 3, 3, EV.EVAL_SEED + 3, True)
    leak = f"Dictionary [1] {{{held[1].gold_key}: {held[1].gold_value}, 5: 6}}"  # one gold pair, another prompt
    for arm, has_template in (("plain", False), ("template", True), ("base", True)):
        seen.clear()
        table, summary = EV.evaluate_arm(model, tok, arm, ecfg, dcfg, [leak, "no pairs here"])
        assert ("Answer in the following template" in seen[0]) == has_template
        assert summary["kv_overlap"] == 1 and set(table.task) == {"kv", "mdqa"}
    assert EV.evaluate_arm(model, tok, "template", ecfg, dcfg, [])[1]["kv_overlap"] == 0


def test_perplexity_is_exp_of_the_mean_nll(tiny):
    model, tok = tiny
    text = "the cat sat on the mat"
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    ref = torch.exp(model(input_ids=ids, labels=ids).loss).item()
    assert EV.perplexity(model, tok, text) == pytest.approx(ref, rel=1e-5)
    # windowed: each window predicts its own next tokens from its own start, every target counted once
    chunks = [ids[0, s:s + 3] for s in range(0, ids.shape[1] - 1, 2)]
    nll = sum(torch.nn.functional.cross_entropy(model(input_ids=c[None, :-1]).logits[0], c[1:], reduction="sum").item()
              for c in chunks)
    assert EV.perplexity(model, tok, text, window=2) == pytest.approx(float(np.exp(nll / (ids.shape[1] - 1))), rel=1e-5)


def _table(base_pos, ft_pos, plain_pos, kv=(0.1, 0.8, 0.5), ppl=(10.0, 10.2, 10.1), n_q=20, seeds=(0, 1, 2),
           facts_ppl=None):
    """Rows with given accuracies: *_pos = accuracy at (first, middle, last); kv = (base, template, plain)."""
    rng = np.random.default_rng(0)
    rows = []

    def add(arm, seed, acc_pos, kv_acc, p):
        for where, acc in zip(("first", "middle", "last"), acc_pos):
            ok = rng.permutation(np.arange(n_q) < round(acc * n_q))
            rows.extend({"arm": arm, "seed": seed, "task": "mdqa", "dataset": "fictional", "n_docs": 5, "where": where,
                         "qid": q, "correct": float(ok[q]), "perplexity": p, "kv_overlap": 0} for q in range(n_q))
        ok = rng.permutation(np.arange(n_q) < round(kv_acc * n_q))
        rows.extend({"arm": arm, "seed": seed, "task": "kv", "dataset": "kv", "n_docs": 4, "where": "", "qid": q,
                     "correct": float(ok[q]), "perplexity": p, "kv_overlap": 0} for q in range(n_q))

    add("base", -1, base_pos, kv[0], ppl[0])
    for s in seeds:
        add("template", s, ft_pos, kv[1], ppl[1])
        add("plain", s, plain_pos, kv[2], ppl[2])
        if facts_ppl is not None:
            add("facts", s, plain_pos, kv[2], facts_ppl)
    return pd.DataFrame(rows)


def _by_id(claims):
    return {c.id: c for c in claims}


def test_claims_hold_on_the_papers_picture_and_fail_where_it_is_false():
    good = _by_id(C.claims(_table((0.8, 0.4, 0.6), (0.8, 0.65, 0.7), (0.8, 0.5, 0.6)), 5, 0.05))
    tie = _by_id(C.claims(_table((0.3, 0.3, 0.3), (0.3, 0.3, 0.3), (0.3, 0.3, 0.3), kv=(0.0, 0.0, 0.0)), 5, 0.05))
    assert not any(tie[k].holds for k in ("mdqa_middle_gain", "u_curve_flatter", "template_beats_plain"))
    collapsed = _by_id(C.claims(_table((0.8, 0.4, 0.6), (0.0, 0.0, 0.0), (0.8, 0.5, 0.6)), 5, 0.05))
    assert not collapsed["u_curve_flatter"].holds  # flat because it fails everywhere
    assert all(c.holds for c in good.values()), {k: c.measured for k, c in good.items() if not c.holds}
    bad = _by_id(C.claims(_table((0.8, 0.6, 0.6), (0.9, 0.3, 0.6), (0.8, 0.5, 0.6), kv=(0.5, 0.5, 0.9),
                                 ppl=(10.0, 12.0, 10.0)), 5, 0.05))
    assert not any(c.holds for c in bad.values()), {k: c.measured for k, c in bad.items() if c.holds}
    assert bad["mdqa_middle_gain"].measured["gain"] == pytest.approx(-0.3)


def test_perplexity_claim_compares_with_the_real_text_arm_when_it_ran():
    worse_than_facts = _table((0.8, 0.4, 0.6), (0.8, 0.65, 0.7), (0.8, 0.5, 0.6), ppl=(10.0, 10.4, 10.0),
                              facts_ppl=10.2)
    assert not _by_id(C.claims(worse_than_facts, 5, 0.05))["no_perplexity_drop"].holds
    no_plain = _by_id(C.claims(_table((0.5,) * 3, (0.5,) * 3, (0.5,) * 3).query("arm != 'plain'"), 5, 0.05))
    assert no_plain["template_beats_plain"].holds is None  # not measured, neither held nor failed
    assert no_plain["no_perplexity_drop"].measured["plain"] is None
    with pytest.raises(ValueError, match="base"):
        C.claims(_table((0.5,) * 3, (0.5,) * 3, (0.5,) * 3).query("arm != 'base'"), 5, 0.05)


@pytest.mark.smollm2
def test_smollm2_loads_offline_with_its_chat_template_and_budgets_tokens():
    model, tok = M.load("smollm2")
    assert model.config.num_hidden_layers == 30 and tok.padding_side == "left"
    prefix = KV.chat_prefix_ids(tok, "hello")
    text = tok.decode(prefix)
    assert "<|im_start|>user\nhello<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    ex = KV.kv_set(tok, {"max_token": 1024, "frac_0": 0.05, "frac_top5": 0.03}, 2, 8, 0, True)
    assert all(KV.counter(tok)(e.prompt) < 1024 - 100 for e in ex)
