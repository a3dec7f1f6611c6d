"""kv_retrieval: the answer-only loss against transformers' own loss, batched left-padded generation against
one-at-a-time greedy, a LoRA step that moves only the adapters (top layers only), checkpoints that round-trip,
and claim rules that fail on tables where the paper is wrong. A tiny random Llama everywhere, except one test
that loads SmolLM2's GGUF."""

import numpy as np
import pandas as pd
import pytest
import torch

from repro.core.claims import records
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


def test_one_epoch_shows_every_step_prompts_it_has_not_seen():
    from repro.core.train import epoch_batch

    # the small and paper recipes (issue 31): n_train = steps x batch, epochs 1
    steps = FT.n_steps(128, 1, 4)
    seen = [i for step in range(steps) for i in epoch_batch(128, 4, 0, step)]
    assert steps == 32 and sorted(seen) == list(range(128))


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
            "positions": ["first"], "qa_new_tokens": 2, "batch": 4, "seed": 10}
    seen = []
    monkeypatch.setattr(EV, "generate", lambda m, t, prompts, *a, **k: seen.append(t.decode(prompts[0])) or
                        [""] * len(prompts))
    held = KV.kv_set(tok, dcfg, 3, 3, EV.eval_seed(ecfg, 3), True)
    leak = f"Dictionary [1] {{{held[1].gold_key}: {held[1].gold_value}, 5: 6}}"  # one gold pair, another prompt
    for arm, has_template in (("plain", False), ("template", True), ("base", True)):
        seen.clear()
        table, summary = EV.evaluate_arm(model, tok, arm, ecfg, dcfg, [leak, "no pairs here"])
        assert ("Answer in the following template" in seen[0]) == has_template
        assert summary["kv_overlap"] == 1 and set(table.task) == {"kv", "mdqa", "ppl"}
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


def test_perplexity_terms_by_sentence_add_up_to_the_perplexity(tiny):
    from repro.studies.kv_retrieval.heldout import HELD_OUT_TEXT

    model, tok = tiny
    text = HELD_OUT_TEXT[:700]
    for window in (1024, 64):  # one window, and windows that cut sentences
        terms = EV.sentence_nll(model, tok, text, window=window)
        assert len(terms) == len(EV.sentence_starts(text)) > 3 and (terms.tokens > 0).all()
        assert terms.tokens.sum() == len(tok(text, add_special_tokens=False)["input_ids"]) - 1
        assert np.exp(terms.nll.sum() / terms.tokens.sum()) == pytest.approx(EV.perplexity(model, tok, text, window),
                                                                             rel=1e-5)
    assert EV.sentence_starts("One. Two! Three? Four.") == [0, 4, 9, 16]


def test_ratio_bootstrap_resamples_whole_units():
    from repro.core.claims import bootstrap_ratio_ci

    lo, hi = bootstrap_ratio_ci([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0])
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    # a unit with many tokens weighs more: the ratio of sums, not the mean of ratios
    lo, hi = bootstrap_ratio_ci([0.0, 10.0], [1.0, 100.0])
    assert 0.0 <= lo and hi <= 0.1 + 1e-12
    assert np.isnan(bootstrap_ratio_ci([1.0], [1.0])[0])


def test_evaluation_and_lora_seeds_come_from_the_config_and_move_with_the_seed_set():
    from repro.core.seeds import shift_tree

    ecfg = {"seed": 10}
    assert EV.eval_seed(ecfg, 4) == 10_004  # the default set keeps the draws of every earlier run
    moved = shift_tree({"eval": ecfg, "seeds": [0, 1, 2]}, 1)
    assert EV.eval_seed(moved["eval"], 4) == 1_010_004 and moved["seeds"] == [1000, 1001, 1002]
    # disjoint from every training seed of both sets
    assert not {EV.eval_seed(c, n) for c in (ecfg, moved["eval"]) for n in (4, 8, 60)} & {0, 1, 2, 1000, 1001, 1002}
    lora = {"method": "lora", "r": 2, "alpha": 4, "top_layers": 1, "epochs": 0.5, "batch": 4, "lr": 0.0}
    dcfg = {"n_train": 2, "n_dicts": 3, "max_token": 1024, "frac_0": 0.05, "frac_top5": 0.03, "facts_docs": 3}
    a = M.adapter_state(FT.train_arm("template", "tiny-random", dcfg, lora, seed=0)[0])
    b = M.adapter_state(FT.train_arm("template", "tiny-random", dcfg, lora, seed=0)[0])
    c = M.adapter_state(FT.train_arm("template", "tiny-random", dcfg, lora, seed=1)[0])
    key = next(k for k in a if "lora_A" in k)  # lr 0: the adapters keep their initialisation
    assert torch.equal(a[key], b[key]) and not torch.equal(a[key], c[key])


GATES = {"kv_gain": 0.2, "train_loss_drop": 0.25}


def _table(base_pos, ft_pos, plain_pos, kv=(0.1, 0.8, 0.5), ppl=(10.0, 10.2, 10.1), n_q=40, seeds=(0, 1, 2),
           facts_ppl=None, ppl_spread=0.01, n_sentences=20):
    """Rows with given accuracies: *_pos = accuracy at (first, middle, last); kv = (base, template, plain).
    Question q is answered when q < accuracy x n_q (the same questions for every arm, as in the pipeline).
    Perplexity: n_sentences sentences of 25 tokens; a fine-tuned arm's log-perplexity on sentence i is its
    arm's log(ppl) plus or minus ppl_spread (alternating over sentences)."""
    rows = []

    def add(arm, seed, acc_pos, kv_acc, p, spread):
        for where, acc in zip(("first", "middle", "last"), acc_pos):
            ok = np.arange(n_q) < round(acc * n_q)
            rows.extend({"arm": arm, "seed": seed, "task": "mdqa", "dataset": "fictional", "n_docs": 5, "where": where,
                         "qid": q, "correct": float(ok[q]), "perplexity": p, "kv_overlap": 0} for q in range(n_q))
        ok = np.arange(n_q) < round(kv_acc * n_q)
        rows.extend({"arm": arm, "seed": seed, "task": "kv", "dataset": "kv", "n_docs": 4, "where": "", "qid": q,
                     "correct": float(ok[q]), "value_correct": float(ok[q]), "name_correct": float(ok[q]),
                     "perplexity": p, "kv_overlap": 0} for q in range(n_q))
        rows.extend({"arm": arm, "seed": seed, "task": "ppl", "dataset": "heldout", "n_docs": 0, "where": "", "qid": i,
                     "correct": np.nan, "nll": 25 * (np.log(p) + spread * (-1) ** i),
                     "tokens": 25, "perplexity": p, "kv_overlap": 0} for i in range(n_sentences))

    add("base", -1, base_pos, kv[0], ppl[0], 0.0)
    for s in seeds:
        add("template", s, ft_pos, kv[1], ppl[1], ppl_spread)
        add("plain", s, plain_pos, kv[2], ppl[2], ppl_spread)
        if facts_ppl is not None:
            add("facts", s, plain_pos, kv[2], facts_ppl, 0.0)
    return pd.DataFrame(rows)


def _history(drop=0.6, seeds=(0, 1, 2), arms=("template", "plain"), steps=16):
    """Answer loss falling linearly from 0.6 by `drop` (a fraction) over the steps."""
    return pd.DataFrame([{"arm": a, "seed": s, "step": t + 1, "loss": 0.6 * (1 - drop * t / (steps - 1))}
                         for a in arms for s in seeds for t in range(steps)])


def _claims(df, history=None, **kw):
    return {c.id: c for c in C.claims(df, 5, 0.05, 0.05, GATES, _history() if history is None else history, **kw)}


def _rec(claim, scale="small"):
    return records([claim], scale)[0]


GOOD = ((0.8, 0.4, 0.6), (0.8, 0.65, 0.7), (0.8, 0.5, 0.6))


def test_claims_hold_on_the_papers_picture_and_fail_where_it_is_false():
    good = _claims(_table(*GOOD))
    assert all(c.holds for c in good.values()), {k: c.measured for k, c in good.items() if not c.holds}
    assert all(_rec(c)["not_measured"] is None for c in good.values())  # the fine-tune learned: every gate passes
    tie = _claims(_table((0.3, 0.3, 0.3), (0.3, 0.3, 0.3), (0.3, 0.3, 0.3), kv=(0.1, 0.8, 0.8)))
    assert not any(tie[k].holds for k in ("mdqa_middle_gain", "template_beats_plain"))
    assert tie["u_curve_flatter"].holds is None  # base has no U: nothing to flatten, no verdict
    shallow = _claims(_table((0.8, 0.775, 0.8), (0.8, 0.8, 0.8), (0.8, 0.8, 0.8)))
    assert shallow["u_curve_flatter"].holds is None  # base's U (0.025) within noise: nothing to flatten
    collapsed = _claims(_table((0.8, 0.4, 0.6), (0.0, 0.0, 0.0), (0.8, 0.5, 0.6)))
    assert not collapsed["u_curve_flatter"].holds  # flat because it fails everywhere
    # the template arm learned retrieval (KV 0.1 -> 0.8) yet MDQA falls in the middle, the curve deepens, the
    # no-template arm retrieves better and perplexity rises by 20%: every transfer claim fails, gates passing
    bad = _claims(_table((0.8, 0.6, 0.6), (0.9, 0.3, 0.6), (0.8, 0.5, 0.6), kv=(0.1, 0.8, 0.95),
                         ppl=(10.0, 12.0, 10.0)))
    for cid in ("mdqa_middle_gain", "u_curve_flatter", "template_beats_plain", "no_perplexity_drop"):
        rec = _rec(bad[cid])
        assert rec["holds"] is False and rec["not_measured"] is None, (cid, rec["measured"])
    assert bad["mdqa_middle_gain"].measured["gain"]["mean"] == pytest.approx(-0.3)
    no_rise = _claims(_table(*GOOD, kv=(0.5, 0.5, 0.5)))
    assert _rec(no_rise["kv_accuracy_rises"])["holds"] is False  # trained (loss fell), nothing retrieved


def test_claims_on_an_unchanged_model_are_not_measured():
    # the fine-tune changed nothing: every arm answers as base does and the perplexity is base's. The old
    # no_perplexity_drop "held" here (ratio 1.00); now it and every transfer claim is gated
    same = (0.8, 0.4, 0.6)
    df = _table(same, same, same, kv=(0.0, 0.0, 0.0), ppl=(10.0, 10.0, 10.0), ppl_spread=0.0)
    flat = _history(drop=0.0)
    c = _claims(df, flat)
    assert c["no_perplexity_drop"].holds  # the rule alone passes it: only the gate stops it
    for cid in ("mdqa_middle_gain", "u_curve_flatter", "template_beats_plain", "no_perplexity_drop"):
        rec = _rec(c[cid])
        assert rec["holds"] is None and "did not learn held-out KV retrieval (0;" in rec["not_measured"], cid
    rec = _rec(c["kv_accuracy_rises"])
    assert rec["holds"] is None and "did not learn its training objective (0;" in rec["not_measured"]
    assert _rec(_claims(df, flat)["kv_accuracy_rises"], "smoke")["not_measured"] is None  # smoke: blank anyway


def test_effects_within_noise_do_not_hold():
    # one more question of 40 right in the middle (+0.025): within noise
    c = _claims(_table((0.8, 0.4, 0.6), (0.8, 0.425, 0.6), (0.8, 0.4, 0.6), kv=(0.1, 0.8, 0.775)))
    assert c["mdqa_middle_gain"].measured["gain"]["mean"] > 0 and not c["mdqa_middle_gain"].holds
    assert not c["u_curve_flatter"].holds  # the depth moved by 0.025: within noise
    # template one KV prompt above plain and one MDQA question above: within noise on both sides
    assert not c["template_beats_plain"].holds
    # KV accuracy 0.05 above base with a trained fine-tune: the interval over 40 prompts reaches 0
    small_rise = _claims(_table(*GOOD, kv=(0.0, 0.05, 0.0)))
    assert small_rise["kv_accuracy_rises"].measured["gain"]["mean"] > 0 and not small_rise["kv_accuracy_rises"].holds
    # perplexity 3% worse on average (within 5%) but sentences scatter by +-10%: the bound exceeds 5%
    noisy = _claims(_table(*GOOD, ppl=(10.0, 10.3, 10.0), ppl_spread=0.1, n_sentences=21))
    assert noisy["no_perplexity_drop"].measured["ratio"] < 1.05 and not noisy["no_perplexity_drop"].holds
    assert noisy["no_perplexity_drop"].measured["vs_base"]["lo"] < -0.05
    # one training seed: the interval is over the text's sentences, so there is a verdict
    one_seed = _claims(_table(*GOOD, seeds=(0,)), _history(seeds=(0,)))
    assert one_seed["no_perplexity_drop"].holds
    assert one_seed["no_perplexity_drop"].measured["vs_base"]["n"] == 20
    # tables without the per-sentence terms (written before them): no interval, no verdict
    old = _claims(_table(*GOOD).query("task != 'ppl'"))
    assert old["no_perplexity_drop"].holds is None


def test_intervals_count_prompts_once_and_base_once():
    c = _claims(_table(*GOOD))
    # 40 KV prompts and 40 MDQA questions, whatever the number of seeds: base is evaluated once, never
    # repeated per seed, and a fine-tuned arm's seeds are averaged per prompt
    assert c["kv_accuracy_rises"].measured["gain"]["n"] == 40
    assert c["mdqa_middle_gain"].measured["gain"]["n"] == 40
    assert "prompts" in c["kv_accuracy_rises"].measured["gain"]["unit"]
    three = _claims(_table(*GOOD, seeds=(0, 1, 2, 3, 4)), _history(seeds=(0, 1, 2, 3, 4)))
    assert three["kv_accuracy_rises"].measured["gain"]["n"] == 40


def test_template_gate_takes_the_better_arm_and_kv_gate_reads_the_worst_seed():
    # only the no-template arm learned: the comparison still means something (and fails)
    c = _claims(_table(*GOOD, kv=(0.0, 0.0, 0.9)))
    rec = _rec(c["template_beats_plain"])
    assert rec["not_measured"] is None and rec["holds"] is False
    assert _rec(c["mdqa_middle_gain"])["not_measured"]  # the template arm did not learn: transfer not measured
    # one seed's optimiser did nothing: kv_accuracy_rises is not measured
    h = _history()
    h.loc[(h.arm == "template") & (h.seed == 2), "loss"] = 0.6
    assert C.train_loss_drop(h, "template") == pytest.approx(0.0)
    assert _rec(_claims(_table(*GOOD), h)["kv_accuracy_rises"])["not_measured"]


def test_perplexity_claim_compares_with_the_real_text_arm_when_it_ran():
    # 3% above base (within 5%) but 7% above the real-text arm: fails on the second comparison
    assert _claims(_table(*GOOD, ppl=(10.0, 10.3, 10.0)))["no_perplexity_drop"].holds
    worse_than_facts = _table(*GOOD, ppl=(10.0, 10.3, 10.0), facts_ppl=9.6)
    assert not _claims(worse_than_facts)["no_perplexity_drop"].holds
    no_plain = _claims(_table(*GOOD).query("arm != 'plain'"))
    assert no_plain["template_beats_plain"].holds is None  # not measured, neither held nor failed
    assert no_plain["no_perplexity_drop"].measured["plain"] is None
    with pytest.raises(ValueError, match="base"):
        C.claims(_table(*GOOD).query("arm != 'base'"), 5, 0.05, 0.05, GATES, _history())


@pytest.mark.smollm2
def test_smollm2_loads_offline_with_its_chat_template_and_budgets_tokens():
    model, tok = M.load("smollm2")
    assert model.config.num_hidden_layers == 30 and tok.padding_side == "left"
    prefix = KV.chat_prefix_ids(tok, "hello")
    text = tok.decode(prefix)
    assert "<|im_start|>user\nhello<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    ex = KV.kv_set(tok, {"max_token": 1024, "frac_0": 0.05, "frac_top5": 0.03}, 2, 8, 0, True)
    assert all(KV.counter(tok)(e.prompt) < 1024 - 100 for e in ex)
