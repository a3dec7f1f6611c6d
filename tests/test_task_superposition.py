"""task_superposition: prompts, the answer scorer, patching, and claim rules that can fail."""

import random

import numpy as np
import pandas as pd
import pytest
import torch

from repro.core.claims import records
from repro.models.gpt import GPT
from repro.studies.task_superposition import claims as C
from repro.studies.task_superposition import data as D
from repro.studies.task_superposition import llm as L
from repro.studies.task_superposition import scratch as S


def _examples(task, tokens, n_demos):
    """(n, n_demos, len_x) inputs and (n, n_demos) answers read back from rendered tokens."""
    L_ = D.example_len(task)
    ex = tokens[:, : n_demos * L_].reshape(len(tokens), n_demos, L_)
    assert (ex[..., -3] == D.SEP).all() and (ex[..., -1] == D.EOL).all()
    return ex[..., :-3], ex[..., -2]


@pytest.mark.parametrize("task", ["bias_add_simple", "copy"])
def test_training_prompts_are_single_task_and_mask_only_answers(task):
    g = torch.Generator().manual_seed(0)
    b = D.train_batch(task, 64, 6, g)
    seq = torch.cat([b.tokens[:, :1], b.targets], 1)
    x, y = _examples(task, seq, 6)
    if task == "bias_add_simple":
        shift = (y - x[..., 0]) % 10
        assert (shift == b.params[:, None]).all()  # one hidden b per prompt
    else:
        assert (x.gather(2, b.params[:, None, None].expand(-1, 6, 1))[..., 0] == y).all()
    assert (b.targets[b.mask] == y.reshape(-1)).all() and b.mask.sum() == 64 * 6  # loss only on answers


def test_skewed_training_draws_the_lower_half_nine_times_in_ten():
    h = D.draw_params("bias_add_simple", 20000, torch.Generator().manual_seed(1), "cpu", skew=(0.9, 0.1))
    assert abs(float((h < 5).float().mean()) - 0.9) < 0.01 and h.min() >= 0 and h.max() <= 9


@pytest.mark.parametrize("task", ["bias_add_simple", "copy"])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_test_prompts_mix_exact_shares_and_answers_differ(task, p):
    g = torch.Generator().manual_seed(2)
    tp = D.test_prompts(task, p, 200, 10, g)
    assert ((tp.demo_task == 0).sum(1) == round(10 * p)).all()  # exact, not Bernoulli
    x, y = _examples(task, tp.tokens, 10)
    h = tp.params.gather(1, tp.demo_task)
    expect = D._answers(task, x.reshape(-1, x.shape[-1]), h.reshape(-1)).view(200, 10)
    assert (y == expect).all()  # every demo follows the task it is labelled with
    assert (tp.answers[:, 0] != tp.answers[:, 1]).all() and (tp.params[:, 0] != tp.params[:, 1]).all()
    assert tp.tokens[:, -1].eq(D.SEP).all() and tp.tokens.shape[1] == D.prompt_len(task, 10)
    xq = tp.tokens[:, 10 * D.example_len(task):-1]
    assert (tp.query_in_demos == (x == xq[:, None]).all(2).any(1)).all()


def test_share_that_is_not_a_whole_number_of_demos_is_refused():
    with pytest.raises(ValueError, match="whole number"):
        D.test_prompts("bias_add_simple", 0.25, 4, 10, torch.Generator().manual_seed(0))


def test_patching_a_prompts_own_residual_changes_nothing_and_another_does():
    torch.manual_seed(0)
    model = GPT(S.model_config("bias_add_simple", 6, {"n_layer": 2, "n_head": 2, "d_model": 32})).eval()
    tp = D.test_prompts("bias_add_simple", 0.5, 8, 6, torch.Generator().manual_seed(3))
    base, res = model(tp.tokens, read=[1, 2])
    pos = tp.tokens.shape[1] - 1
    same = model(tp.tokens, patch={1: (pos, res[1][:, pos])})
    assert torch.equal(same, base)
    other = model(tp.tokens, patch={1: (pos, res[1][:, pos].flip(0))})
    assert not torch.allclose(other[:, -1], base[:, -1])


def test_llm_prompts_keep_the_query_out_of_the_demos_with_distinct_answers():
    rng, pool = random.Random(0), L.words()
    for tasks, counts in [(["copyA", "copyB"], [3, 9]), (["first_letter", "last_letter", "first_letter_cap"], [4, 4, 4])]:
        for _ in range(30):
            pr = L.mixed_prompt(tasks, counts, rng, pool)
            lines = pr.text.split("\n")
            question, demos = lines[-1], lines[:-1]
            assert len(demos) == sum(counts) and all(not d.startswith(question) for d in demos)
            assert [pr.demo_tasks.count(t) for t in tasks] == counts
            assert len(set(pr.answers.values())) == len(pr.answers)  # tasks and control all differ
            for d, t in zip(demos, pr.demo_tasks):  # each demo answers its own task
                q, a = (d.split("=") if "@" in d else d.split(" ->"))
                item = tuple(map(int, q.split("@"))) if "@" in d else q
                assert (("=" if "@" in d else " ->").join([q, ""]) + L.answer(t, item)) == d


def test_scorer_equals_token_by_token_teacher_forcing():
    model, encode = L.load("tiny-random", "cpu")
    pr = L.mixed_prompt(["copyA", "copyB"], [2, 2], random.Random(1), L.words())
    fast = L.score(model, encode, pr.text, pr.answers)
    for k, a in pr.answers.items():
        assert len(L.answer_tokens(encode, pr.text, a)[1]) == 2  # two-digit answers: two tokens here
        assert fast[k][0] == pytest.approx(L.score_naive(model, encode, pr.text, a), abs=1e-4)
    total = sum(np.exp(L.score(model, encode, pr.text, {str(d): str(d)})[str(d)][0]) for d in range(10))
    assert total <= 1 + 1e-5  # first-token probabilities of disjoint one-token answers sum to at most 1


def test_tokenisation_merge_across_the_boundary_is_refused():
    def merging(text):  # a tokenizer that fuses "=1" into one token, as BPE can
        out, i = [], 0
        while i < len(text):
            if text[i:i + 2] == "=1":
                out.append(999)
                i += 2
            else:
                out.append(ord(text[i]))
                i += 1
        return out
    with pytest.raises(ValueError, match="boundary"):
        L.answer_tokens(merging, "12@34=", "12")
    assert L.answer_tokens(merging, "12@34=", "34")[1] == [ord("3"), ord("4")]


# ------------------------------------------------------------------------------------------------ claims
GATES = {"scratch_single_task_accuracy": 0.8, "llm_single_task_accuracy": 0.6}


def _mixing(fn, n=300, ps=np.linspace(0, 1, 11), seed=0, one_hot=True, mass=0.95, model="bias_add_simple",
            other=None):
    """A from-scratch table where each prompt's q = fn(p): one-hot prompts (Bernoulli) or every prompt mixed.
    The two answers hold `mass` (+0.02); `other(p)`, when given, sets P(neither answer) instead."""
    rng, rows = np.random.default_rng(seed), []
    for p in ps:
        m = float(fn(p))
        q = (rng.random(n) < m).astype(float) if one_hot else np.full(n, m)
        w = mass if other is None else 0.98 - float(other(p))
        p0, p1 = w * q + 0.01, w * (1 - q) + 0.01
        last = (rng.random(n) < p).astype(int)
        rows.append(pd.DataFrame({"model": model, "seed": 0, "p": round(float(p), 2), "p_task0": p0,
                                  "p_task1": p1, "p_other": 1 - p0 - p1, "query_in_demos": rng.random(n) < 0.6,
                                  "task0_in_last1": last, "task0_in_last3": last * 2}))
    return pd.concat(rows, ignore_index=True)


def _interp(fn, n_pairs=20, noise=0.02, model="bias_add_simple"):
    lam, rng = np.linspace(0, 1, 11), np.random.default_rng(1)
    return pd.concat([pd.DataFrame({"model": model, "seed": 0, "pair": i, "lam": lam,
                                    "p_b": np.clip(fn(lam) + noise * rng.standard_normal(len(lam)), 0, 1),
                                    "layer": 1}).assign(p_a=lambda d: 1 - d.p_b) for i in range(n_pairs)])


SPECS = {"bias_add_simple": {"task": "bias_add_simple"}}


def _by_id(claims):
    return {c.id: c for c in claims}


def _scratch(mixing, interp, specs=SPECS):
    return _by_id(C.scratch_claims(mixing, interp, specs, GATES))


def _gated(claim, scale="small"):
    rec = records([claim], scale)[0]
    return rec["holds"] is None and bool(rec["not_measured"])


COPY = {"bias_add_simple": {"task": "bias_add_simple"}, "copy": {"task": "copy", "test_pair": [2, 6]}}


def _with_copy(fn_mix, fn_tv, **kw):
    """Mixing tables of a bias_add_simple and a copy model, and the copy model's interpolation rows."""
    mixing = pd.concat([_mixing(fn_mix), _mixing(fn_mix, model="copy", seed=5)])
    return mixing, _interp(fn_tv, model="copy", **kw)


def test_scratch_claims_hold_on_the_papers_pattern():
    c = _scratch(*_with_copy(lambda p: p, lambda lam: 0.9 * lam), COPY)
    assert c["scratch_monotone"].holds and c["scratch_calibrated"].holds
    assert c["per_prompt_one_hot"].holds and c["task_vector_interpolation"].holds
    for claim in c.values():  # a model that learned the task: every gate passes, every verdict stands
        rec = records([claim], "small")[0]
        assert rec["not_measured"] is None and rec["gates"][0]["passed"] and rec["holds"] is True
    assert set(c["scratch_monotone"].measured) == {"bias_add_simple/s0", "copy/s0"}
    assert set(c["task_vector_interpolation"].measured) == {"copy/s0"}  # the copy task only


def test_task_vector_claim_has_no_verdict_without_a_copy_model():
    c = _scratch(_mixing(lambda p: p), _interp(lambda lam: 0.9 * lam))["task_vector_interpolation"]
    assert c.holds is None and c.measured == {} and "no unskewed copy model" in c.notes


def test_task_vector_claim_fails_when_flat_falling_or_within_noise_and_holds_at_one_layer_of_the_span():
    for fn in (lambda lam: 0.5 + 0 * lam, lambda lam: 0.9 - 0.9 * lam, lambda lam: 0.3 * lam):
        assert not _scratch(*_with_copy(lambda p: p, fn), COPY)["task_vector_interpolation"].holds
    # per-query rows of the co-author's fixed pair at two layers: flat at layer 1, rising at layer 2 -> holds at 2
    lam, rng, rows = np.linspace(0, 1, 11), np.random.default_rng(4), []
    for layer, fn in ((1, lambda x: 0.1 + 0 * x), (2, lambda x: 0.8 * x)):
        for q in range(50):
            rows.append(pd.DataFrame({"model": "copy", "seed": 0, "pair": 0, "query": q, "layer": layer, "lam": lam,
                                      "p_b": np.clip(fn(lam) + 0.1 * rng.standard_normal(11), 0, 1)}))
    span = pd.concat(rows).assign(p_a=lambda d: 1 - d.p_b)
    mixing = pd.concat([_mixing(lambda p: p), _mixing(lambda p: p, model="copy", seed=5)])
    c = _scratch(mixing, span, COPY)["task_vector_interpolation"]
    cell = c.measured["copy/s0"]
    assert c.holds and cell["holds_at_layers"] == [2] and cell["interval_level"] == pytest.approx(0.975)
    assert "zero-shot queries" in cell["by_layer"][2]["rise"]["unit"]
    # queries that rise by 0.05 or 0.75 (mean 0.4 > 0.3): 6 queries leave the interval below 0.3
    scatter = pd.concat([pd.DataFrame({"model": "copy", "seed": 0, "pair": 0, "query": q, "layer": 1, "lam": lam,
                                       "p_b": (0.05 if q % 2 else 0.75) * lam}) for q in range(6)])
    c = _scratch(mixing, scatter.assign(p_a=lambda d: 1 - d.p_b), COPY)["task_vector_interpolation"]
    assert c.measured["copy/s0"]["by_layer"][1]["rise"]["mean"] > C.TV_RISE and not c.holds
    # the copy model never learned its single tasks: not measured, whatever the vectors do
    stuck = pd.concat([_mixing(lambda p: p), _mixing(lambda p: 0.5, one_hot=False, mass=0.18, model="copy")])
    assert _gated(_scratch(stuck, span, COPY)["task_vector_interpolation"])


def test_scratch_claims_fail_where_the_paper_is_false():
    # P(task 0) = 1 at p = 1 and 0 at p = 0 (the single tasks are learned), flat 0.5 in between: not monotone
    flat = _scratch(*_with_copy(lambda p: 0.5 if 0 < p < 1 else p, lambda lam: 0.5 + 0 * lam), COPY)
    assert not flat["scratch_monotone"].holds and not flat["task_vector_interpolation"].holds
    sigmoid = _scratch(*_with_copy(lambda p: 1 / (1 + np.exp(-30 * (p - 0.5))), lambda lam: 0.9 - 0.9 * lam), COPY)
    assert sigmoid["scratch_monotone"].holds and not sigmoid["scratch_calibrated"].holds
    assert not sigmoid["task_vector_interpolation"].holds  # P(B) falls with lambda
    mixed = _scratch(_mixing(lambda p: p, one_hot=False), _interp(lambda lam: lam))
    assert mixed["scratch_calibrated"].holds and not mixed["per_prompt_one_hot"].holds
    for claims in (flat, sigmoid, mixed):  # the models learned their single tasks: these are verdicts
        assert not any(_gated(c) for c in claims.values())


def test_scratch_claims_are_not_measured_on_a_model_stuck_on_a_plateau():
    # the copy plateau: the answer of a repeated input is copied, any other query gets a uniform 0.1 per
    # answer. Its mean P(task 0) still rises with p (Spearman 1), but the single tasks were never learned.
    rng = np.random.default_rng(3)
    rows = []
    for p in np.linspace(0, 1, 11):
        seen = rng.random(300) < 0.65
        from_task0 = rng.random(300) < p
        p0 = np.where(seen, np.where(from_task0, 0.9, 0.0), 0.1)
        p1 = np.where(seen, np.where(from_task0, 0.0, 0.9), 0.1)
        rows.append(pd.DataFrame({"model": "bias_add_simple", "seed": 0, "p": round(float(p), 2), "p_task0": p0,
                                  "p_task1": p1, "p_other": 1 - p0 - p1, "query_in_demos": seen,
                                  "task0_in_last1": from_task0.astype(int), "task0_in_last3": 0}))
    table = pd.concat(rows, ignore_index=True)
    plateau = _scratch(pd.concat([table, table.assign(model="copy")]), _interp(lambda lam: 0.9 * lam, model="copy"),
                       COPY)
    assert C.single_task_accuracy(pd.concat(rows)) == 0.0
    assert plateau["scratch_monotone"].holds  # the rule alone passes this model: only the gate stops it
    assert plateau["task_vector_interpolation"].holds  # so does the interpolation rule
    for cid in ("scratch_monotone", "scratch_calibrated", "per_prompt_one_hot", "task_vector_interpolation"):
        assert _gated(plateau[cid]), cid
        assert "did not learn the single tasks (0;" in records([plateau[cid]], "small")[0]["not_measured"]
    # the ln 10 plateau (every answer 0.1) is gated too, and smoke keeps its verdicts blank without the gate
    uniform = _scratch(pd.concat([_mixing(lambda p: 0.5, one_hot=False, mass=0.18),
                                  _mixing(lambda p: 0.5, one_hot=False, mass=0.18, model="copy")]),
                       _interp(lambda lam: 0.1 + 0 * lam, model="copy"), COPY)
    assert all(_gated(c) for c in uniform.values())
    assert records([uniform["scratch_monotone"]], "smoke")[0]["not_measured"] is None


def test_scratch_monotone_needs_a_rise_beyond_noise_not_only_ranks():
    # ordered but tiny: P(task 0) goes 0.45 -> 0.55 (Spearman ~1, rise 0.1 < 0.5); the single tasks are
    # still learned (p = 0 and 1 answered), so the gate passes and the rule must fail on magnitude
    tiny = _mixing(lambda p: 0.45 + 0.1 * p if 0 < p < 1 else p, one_hot=False)
    shallow = _mixing(lambda p: 0.45 + 0.1 * p, one_hot=False)
    c = _scratch(tiny, _interp(lambda lam: lam))["scratch_monotone"]
    assert c.holds  # the ends are 0 and 1: a full rise
    c = _scratch(shallow, _interp(lambda lam: lam))["scratch_monotone"]
    assert c.measured["bias_add_simple/s0"]["spearman"] >= C.MONOTONE_RHO and not c.holds
    # a rise of 0.52 measured on 6 prompts per end: its 2-s.e. interval reaches below 0.5, no verdict of a rise
    few = _mixing(lambda p: 0.24 + 0.52 * p, n=6, ps=[0, 0.5, 1])
    rec = _scratch(few, _interp(lambda lam: lam))["scratch_monotone"]
    assert not rec.holds


def test_calibration_and_one_hot_judge_their_bounds():
    # calibrated on average, but from 8 one-hot prompts per p: the distance's upper bound exceeds 0.1
    few = _scratch(_mixing(lambda p: p, n=8), _interp(lambda lam: lam))
    assert not few["scratch_calibrated"].holds
    # one-hot between the two answers but only 0.6 of the mass on them: not one-hot by the mass condition,
    # and the old normalised statistic P0 / (P0 + P1) would have called it one-hot
    spread = _scratch(_mixing(lambda p: p, mass=0.58), _interp(lambda lam: lam))["per_prompt_one_hot"]
    cell = spread.measured["bias_add_simple/s0"]
    assert not spread.holds and cell["candidate_mass"] < C.ONE_HOT_MASS and cell["var_ratio_normalised"] > 0.9


def test_task_vector_rise_must_clear_its_spread_over_pairs():
    # mean rise 0.35 > 0.3, but pairs scatter by 0.3: the interval over 4 pairs reaches below 0.3
    lam = np.linspace(0, 1, 11)
    rises = [0.05, 0.65, 0.1, 0.6]
    noisy = pd.concat([pd.DataFrame({"model": "copy", "seed": 0, "pair": i, "lam": lam, "p_b": r * lam,
                                     "p_a": 1 - r * lam, "layer": 1}) for i, r in enumerate(rises)])
    random_pairs = {"copy": {"task": "copy"}}
    c = _scratch(_mixing(lambda p: p, model="copy"), noisy, random_pairs)["task_vector_interpolation"]
    rise = c.measured["copy/s0"]["by_layer"][1]["rise"]
    assert rise["mean"] > C.TV_RISE and rise["unit"].startswith("pairs") and not c.holds


def test_every_seed_must_hold_on_its_own():
    good, bad = _mixing(lambda p: p), _mixing(lambda p: 0.5 if 0 < p < 1 else p).assign(seed=1)
    c = _scratch(pd.concat([good, bad]), pd.concat([_interp(lambda lam: lam), _interp(lambda lam: lam).assign(seed=1)]))
    assert set(c["scratch_monotone"].measured) == {"bias_add_simple/s0", "bias_add_simple/s1"}
    assert not c["scratch_monotone"].holds


SKEW = {"bias_add_simple": {"task": "bias_add_simple"},
        "bias_add_simple_9010": {"task": "bias_add_simple", "skew": [0.9, 0.1]}}


def test_skew_claim_measures_the_leak_to_other_answers():
    ref = _mixing(lambda p: p)
    # the paper's numbers at p = 0.5: 0.24 and 0.23 on the two answers, 0.53 elsewhere -> holds
    paper = _mixing(lambda p: p, model="bias_add_simple_9010", other=lambda p: 0.53 if 0 < p < 1 else 0.0)
    c = _scratch(pd.concat([ref, paper]), _interp(lambda lam: lam), SKEW)
    skew = c["skewed_training_shifts_mass"]
    assert skew.holds and skew.measured["bias_add_simple_9010/s0"]["p_other"] == pytest.approx(0.53, abs=0.01)
    assert "bias_add_simple_9010/s0" not in c["scratch_calibrated"].measured  # calibration: unskewed only
    # no more leak than the unskewed model (within noise): fails
    same = _mixing(lambda p: p, model="bias_add_simple_9010", seed=7)
    assert not _scratch(pd.concat([ref, same]), _interp(lambda lam: lam), SKEW)["skewed_training_shifts_mass"].holds
    # no unskewed model to compare with: no verdict; and no skewed model: no claim
    alone = _scratch(paper, _interp(lambda lam: lam, model="bias_add_simple_9010"), SKEW)
    assert alone["skewed_training_shifts_mass"].holds is None
    assert alone["task_vector_interpolation"].holds is None  # no unskewed copy model: no verdict
    assert "skewed_training_shifts_mass" not in _scratch(ref, _interp(lambda x: x))
    # the skewed model never learned its single tasks: not measured
    stuck = _mixing(lambda p: 0.5, one_hot=False, mass=0.18, model="bias_add_simple_9010")
    assert _gated(_scratch(pd.concat([ref, stuck]), _interp(lambda lam: lam), SKEW)["skewed_training_shifts_mass"])


def _llm(prob_a, prob_b, control=0.001, ps=(0, 0.25, 0.5, 0.75, 1), n=8, noise=0.0, acc=(1.0, 1.0)):
    rows = []
    for p in ps:
        for i in range(n):
            jitter = noise * (i % 2 * 2 - 1)  # +-noise alternating: a known standard error per share
            for ans, v in (("copyA", prob_a(p) + jitter), ("copyB", prob_b(p) - jitter), ("control", control)):
                rows.append({"family": "AB", "mixture": "pair", "tasks": "copyA+copyB", "p": p, "prompt": i,
                             "answer": ans, "prob": v, "last_demo_task": "copyA" if i % 2 else "copyB"})
    screen = pd.DataFrame({"task": ["copyA", "copyB"], "greedy_accuracy": list(acc),
                           "kept": [a >= 0.6 for a in acc]})
    return screen, pd.DataFrame(rows)


def _llm_claims(screen, mixing, model="m"):
    return _by_id(C.llm_claims(screen, mixing, model, 12, GATES))


def test_llm_claims_hold_on_superposition_and_fail_without_it():
    ok = _llm_claims(*_llm(lambda p: 0.8 * p, lambda p: 0.8 * (1 - p)), "smollm2")
    assert ok["llm_superposition"].holds and ok["llm_follows_mixture"].holds
    assert not any(_gated(c) for c in ok.values())
    assert set(ok["llm_superposition"].measured["families"]["AB"]["by_last_demo"]["copyA"]) == {"copyA", "copyB"}
    one_task = _llm_claims(*_llm(lambda p: 0.9, lambda p: 0.01 + 0 * p))
    assert not one_task["llm_superposition"].holds and not one_task["llm_follows_mixture"].holds
    below_control = _llm_claims(*_llm(lambda p: 0.3 * p, lambda p: 0.3 * (1 - p), control=0.2))
    assert not below_control["llm_superposition"].holds
    # a dip of 0.05 at share 0.5 is inside 2 s.e. when prompts scatter by 0.2, a real reversal of 0.4 is not
    dip = {0: 0.1, 0.25: 0.35, 0.5: 0.3, 0.75: 0.6, 1: 0.8}
    noisy = _llm_claims(*_llm(dip.get, lambda p: dip[1 - p], noise=0.2))
    assert noisy["llm_follows_mixture"].holds
    reversal = {0: 0.1, 0.25: 0.7, 0.5: 0.3, 0.75: 0.6, 1: 0.8}
    assert not _llm_claims(*_llm(reversal.get, lambda p: dip[1 - p], noise=0.05))["llm_follows_mixture"].holds
    # a rise of 0.1 from share 0 to 1 when prompts scatter by 0.2 is within noise: no verdict of a rise
    weak = _llm_claims(*_llm(lambda p: 0.3 + 0.1 * p, lambda p: 0.4 - 0.1 * p, noise=0.2))
    assert not weak["llm_follows_mixture"].holds
    no_half = _llm_claims(*_llm(lambda p: 0.8 * p, lambda p: 0.8 * (1 - p), ps=(0, 1)))
    assert not no_half["llm_superposition"].holds  # no uniform mixture measured: no pass
    single = _llm_claims(*_llm(lambda p: 0.8 * p, lambda p: 0.8 * (1 - p), n=1))
    assert not single["llm_follows_mixture"].holds  # one prompt per share: no standard error, no verdict
    screen, _ = _llm(lambda p: p, lambda p: p)
    nothing = _llm_claims(screen.assign(kept=[True, False]), pd.DataFrame(
        columns=["family", "mixture", "tasks", "p", "prompt", "answer", "prob"]))
    assert not nothing["llm_superposition"].holds and not nothing["llm_follows_mixture"].holds


def test_llm_superposition_is_judged_on_the_interval_not_the_mean():
    # copyA's mean 0.07 > 0.05 at share 0.5, but prompts scatter by 0.06 over 8 prompts: the lower end is
    # below 0.05 and the claim must not hold (the small run's copyA: mean 0.16, lower end 0.03)
    c = _llm_claims(*_llm(lambda p: 0.07 if p == 0.5 else 0.8 * p, lambda p: 0.8 * (1 - p), noise=0.06))
    fam = c["llm_superposition"].measured["families"]["AB"]
    assert fam["mean_prob"]["copyA"] > C.LLM_MIN_PROB > fam["ci95_lo"]["copyA"]
    assert not c["llm_superposition"].holds


def test_llm_claims_are_not_measured_when_the_llm_cannot_do_the_single_tasks():
    # the screen kept nothing (copyB at 0.2): what a mixture would show says nothing about superposition
    c = _llm_claims(*_llm(lambda p: 0.8 * p, lambda p: 0.8 * (1 - p), acc=(1.0, 0.2)))
    for cid in ("llm_superposition", "llm_follows_mixture"):
        assert _gated(c[cid]) and "(0.2;" in records([c[cid]], "small")[0]["not_measured"]
    assert C.llm_single_task_accuracy(pd.DataFrame({"task": ["copyA", "copyB", "first_letter", "last_letter"],
                                                    "greedy_accuracy": [1.0, 0.9, 0.8, 0.0],
                                                    "kept": [True, True, True, False]})) == 0.9


@torch.no_grad()
def test_llm_residual_hooks_read_patch_and_leave_the_continuation_alone():
    model, encode = L.load("tiny-random", "cpu")
    q, ans = "12@34=", {"copyA": "12", "copyB": "34"}
    plain = L.score(model, encode, q, ans)
    with L.ResidualHooks(model) as hooks:
        ids = encode(q)
        hooks.pos, hooks.read = len(ids) - 1, {0: [], 1: []}
        model(torch.tensor([ids]))
        own = {layer: v[0][0] for layer, v in hooks.read.items()}
        hooks.read = {}
        same = L.patched_score(model, encode, hooks, q, ans, {1: own[1]}, "cpu")
        assert same["copyA"][0] == pytest.approx(plain["copyA"][0], abs=1e-5)  # own residual: no change
        other = L.patched_score(model, encode, hooks, q, ans, {0: torch.randn_like(own[0]) * 5}, "cpu")
        assert other["copyA"][0] != pytest.approx(plain["copyA"][0], abs=1e-3)
        # the patch hits only the prompt's last position: one full forward of prompt + answer with the same
        # patch (which covers that position once) gives the same answer probability as the cached scorer
        p_ids, a_ids = L.answer_tokens(encode, q, "12")
        hooks.patch, hooks.pos = {0: torch.ones_like(own[0])}, len(p_ids) - 1
        logp = model(torch.tensor([p_ids + a_ids])).logits[0].float().log_softmax(-1)
        full = sum(float(logp[len(p_ids) - 1 + i, t]) for i, t in enumerate(a_ids))
        cached = L.patched_score(model, encode, hooks, q, {"copyA": "12"}, {0: torch.ones_like(own[0])}, "cpu")
        assert cached["copyA"][0] == pytest.approx(full, abs=1e-4)
        # a short question with a long answer: the cached continuation covers more tokens than `pos`
        short, long_answer = "1@", " abcdefgh"
        p_ids, a_ids = L.answer_tokens(encode, short, long_answer)
        vec = torch.ones_like(own[0]) * 3
        hooks.patch, hooks.pos = {1: vec}, len(p_ids) - 1
        logp = model(torch.tensor([p_ids + a_ids])).logits[0].float().log_softmax(-1)
        full = sum(float(logp[len(p_ids) - 1 + i, t]) for i, t in enumerate(a_ids))
        cached = L.patched_score(model, encode, hooks, short, {"x": long_answer}, {1: vec}, "cpu")
        assert cached["x"][0] == pytest.approx(full, abs=1e-4)
    after = L.score(model, encode, q, ans)
    assert after["copyA"][0] == pytest.approx(plain["copyA"][0], abs=1e-6)  # hooks removed on exit


def _llm_tv(p_b, n_queries=8, scatter=0.0, layers=(4,)):
    lam = np.linspace(0, 1, 6)
    by_layer = pd.DataFrame({"layer": [-1, 4, 8, -1, 4, 8], "task": ["copyA"] * 3 + ["copyB"] * 3,
                             "prob": [0.01, 0.5, 0.3, 0.01, 0.4, 0.2], "task_a": "copyA", "task_b": "copyB",
                             "best_a": 4, "best_b": 4})
    interp = pd.concat([pd.DataFrame({"query": i, "lam": lam, "layer": layer,
                                      "p_b": np.clip(p_b(lam) * (1 + scatter * (i % 2 * 2 - 1)), 0, 1)})
                        for i in range(n_queries) for layer in layers]).assign(p_a=lambda d: 1 - d.p_b)
    return by_layer, interp


def _tv_claim(by_layer, interp, acc=(1.0, 1.0)):
    screen = pd.DataFrame({"task": ["copyA", "copyB"], "greedy_accuracy": list(acc), "kept": [True, True]})
    return C.llm_task_vector_claim(by_layer, interp, "m", screen, GATES)


def test_llm_task_vector_claim_holds_on_a_rise_and_fails_when_flat():
    ok = _tv_claim(*_llm_tv(lambda lam: 0.8 * lam))
    assert ok.holds and ok.measured["best_layers"] == {"copyA": 4, "copyB": 4}
    assert not _tv_claim(*_llm_tv(lambda lam: 0.2 + 0 * lam)).holds
    assert not _tv_claim(*_llm_tv(lambda lam: 0.8 * (1 - lam))).holds
    # a mean rise of 0.4 from questions that rise by 0.04 or 0.76: the interval over 8 questions is below 0.3
    noisy = _tv_claim(*_llm_tv(lambda lam: 0.4 * lam, scatter=0.9))
    assert noisy.measured["by_layer"][4]["rise"]["mean"] > C.TV_RISE and not noisy.holds
    # the LLM cannot do copyA alone: not measured
    assert _gated(_tv_claim(*_llm_tv(lambda lam: 0.8 * lam), acc=(0.1, 1.0)))


def test_llm_task_vector_claim_judges_each_layer_of_the_span_at_a_corrected_level():
    # three layers between the best ones: flat at 12 and 16, rising at 20 -> holds at layer 20 only
    by_layer, flat = _llm_tv(lambda lam: 0.1 + 0 * lam, n_queries=32, layers=(12, 16))
    _, rising = _llm_tv(lambda lam: 0.7 * lam, n_queries=32, layers=(20,))
    c = _tv_claim(by_layer, pd.concat([flat, rising]))
    assert c.holds and c.measured["holds_at_layers"] == [20]
    assert c.measured["interval_level"] == pytest.approx(1 - 0.05 / 3, abs=1e-4)
    # a rise of 0.35 (s.d. 0.13 over 32 questions) whose 95% interval clears 0.3 but whose corrected one
    # (3 layers) does not: fails
    z = np.random.default_rng(0).standard_normal(32)
    lam = np.linspace(0, 1, 6)
    rows = [pd.DataFrame({"query": i, "lam": lam, "layer": layer, "p_b": r * lam})
            for layer in (12, 16, 20) for i, r in enumerate(0.35 + 0.13 * (z - z.mean()) / z.std(ddof=1))]
    edge = pd.concat(rows).assign(p_a=lambda d: 1 - d.p_b)
    ends = edge[(edge.layer == 20) & (edge.lam == 1)].p_b.to_numpy()
    from repro.core.claims import bootstrap_ci
    assert bootstrap_ci(ends, n=2000)[0] > C.TV_RISE > bootstrap_ci(ends, n=2000, level=1 - 0.05 / 3)[0]
    assert not _tv_claim(by_layer, edge).holds


# ------------------------------------------------------------------------------------------ issue 31: recipe
def test_curriculum_grows_the_training_prompts_then_holds_them_at_full_length():
    cur = {"demos_start": 2, "demos_every": 100, "params_start": 3, "params_every": 50}
    assert [S.examples_at(s, 11, cur) for s in (0, 99, 100, 850, 900, 5000)] == [2, 2, 3, 10, 11, 11]
    assert [S.params_at(s, 10, cur) for s in (0, 49, 50, 349, 350, 5000)] == [3, 3, 4, 9, 10, 10]
    assert S.examples_at(0, 11, None) == 11 and S.params_at(7, 10, {"demos_start": 2, "demos_every": 1}) == 10
    h = D.train_batch("bias_add_simple", 500, 3, torch.Generator().manual_seed(0), n_params=3).params
    assert set(h.tolist()) == {0, 1, 2}  # the first three tasks only, each drawn


def test_training_logs_a_heldout_learning_curve_on_unseen_queries():
    tokens, answers = S.heldout_prompts("bias_add_simple", 6, 40, seed=3, device="cpu")
    x, y = _examples("bias_add_simple", tokens, 6)
    xq = tokens[:, -2]
    assert len(tokens) == 40 and not (x[..., 0] == xq[:, None]).any()  # the query's input is never a demo's
    b = (y[:, 0] - x[:, 0, 0]) % 10
    assert ((xq + b) % 10 == answers).all()  # the answer follows the prompt's own rule
    cfg = {"batch": 8, "steps": 50, "lr": 1e-3, "weight_decay": 0.0, "warmup": 0, "min_lr_ratio": 1.0,
           "save_every": 1000, "curriculum": {"demos_start": 2, "demos_every": 10, "params_start": 2,
                                                         "params_every": 20}, "eval_every": 25, "eval_prompts": 16}
    _, hist = S.train({"task": "bias_add_simple"}, {"n_layer": 1, "n_head": 1, "d_model": 16}, cfg, 6, seed=0,
                      device=torch.device("cpu"))
    assert hist.step.tolist() == [25, 50] and hist.examples.tolist() == [4, 6] and hist.params.tolist() == [3, 4]
    assert hist.heldout_accuracy.between(0, 1).all()


def test_interpolation_patches_each_layer_between_the_two_best_ones():
    torch.manual_seed(0)
    model = GPT(S.model_config("copy", 4, {"n_layer": 4, "n_head": 2, "d_model": 16})).eval()
    g = torch.Generator().manual_seed(0)
    tv = S.task_vectors(model, "copy", 4, 3, g, "cpu")
    by_layer = pd.DataFrame({"layer": [-1, 1, 2, 3] * 2, "param": [2] * 4 + [6] * 4,
                             "p_answer": [0.1, 0.5, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6]})
    assert S.best_layers(by_layer) == {2: 1, 6: 3} and S.inner_layers(model) == [1, 2, 3]
    fixed = S.interpolate(model, "copy", tv, by_layer, [(2, 6)], [0, 0.5, 1], 5, g, "cpu")
    assert sorted(fixed.layer.unique()) == [1, 2, 3] and len(fixed) == 3 * 3 * 5  # layers x lambdas x queries
    assert fixed["query"].min() == 0 and fixed.p_a.between(0, 1).all()
    by_layer = pd.concat([by_layer, by_layer.assign(param=by_layer.param + 1)])
    pairs = S.interpolate(model, "copy", tv, by_layer, [(2, 6), (3, 7)], [0, 1], 5, g, "cpu")
    assert (pairs["query"] == -1).all() and len(pairs) == 2 * 3 * 2  # pair means: pairs x layers x lambdas


def test_llm_uniform_mixture_gets_its_own_prompt_count():
    from repro.studies.task_superposition import experiments as E
    cfg = {"model": "tiny-random", "tasks": ["copyA", "copyB"], "screen": {"n_prompts": 1, "min_accuracy": 0.0},
           "n_demos": 4, "shares": [0, 0.5, 1], "n_prompts": 2, "n_prompts_uniform": 5}
    mix = E.llm_experiment(cfg, seed=0, device="cpu")["mixing"]
    counts = mix[mix.answer == "copyA"].groupby("p").prompt.nunique().to_dict()
    assert counts == {0.0: 2, 0.5: 5, 1.0: 2}
