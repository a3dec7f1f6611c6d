"""Provenance-stamped io and the claims machinery."""

import json

import pandas as pd
import pytest
import torch

from repro.core import claims as C
from repro.core import io
from repro.core.provenance import Provenance, config_hash
from repro.studies.dual_modes import claims as DC


def test_parquet_and_checkpoint_carry_provenance(tmp_path):
    prov = Provenance(params={"a": 1}, seed=3, device="cpu", scale="smoke")
    io.write_parquet(pd.DataFrame({"k": [0, 1]}), tmp_path / "t.parquet", prov)
    meta = io.read_provenance(tmp_path / "t.parquet")
    assert meta["seed"] == 3 and meta["config_hash"] == config_hash({"a": 1}) and "torch" in meta["packages"]
    sd = {"w": torch.arange(6.0).view(2, 3)}
    io.save_checkpoint(sd, tmp_path / "m.safetensors", {"n_layer": 2}, prov)
    loaded, cfg = io.load_checkpoint(tmp_path / "m.safetensors")
    assert cfg == {"n_layer": 2} and torch.equal(loaded["w"], sd["w"])
    assert io.read_provenance(tmp_path / "m.safetensors")["scale"] == "smoke"


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_crossover_k():
    ks = [0, 1, 2, 4, 8]
    assert DC.crossover_k(ks, [1, 1, 1, 0.2, 0.1], [2, 0.5, 0.5, 0.5, 0.5]) == 4
    assert DC.crossover_k(ks, [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]) == 0
    assert DC.crossover_k(ks, [1] * 5, [0] * 5) == 9  # never crosses on the grid


def _ascent_table(risks, se=0.01):
    ks = [0, 1, 4, 16, 64, 256]
    r = pd.Series(risks)
    return pd.DataFrame({"d": 1, "k": ks, "risk": r, "se": se, "diff": r - r[0], "se_diff": se})


def test_early_ascent_claim_needs_a_significant_bump_and_a_fall():
    assert DC.early_ascent_claim([_ascent_table([1.0, 1.1, 1.2, 1.0, 0.6, 0.2])]).holds
    assert not DC.early_ascent_claim([_ascent_table([1.0, 0.9, 0.8, 0.7, 0.6, 0.2])]).holds  # no ascent
    assert not DC.early_ascent_claim([_ascent_table([1.0, 1.01, 1.0, 1.0, 0.6, 0.2])]).holds  # within noise
    assert not DC.early_ascent_claim([_ascent_table([1.0, 1.2, 1.2, 1.0, 0.9, 0.8])]).holds  # no fall


def test_records_blank_verdicts_at_smoke_and_report_flags_failures():
    c = [C.Claim("a", "s", "r", {"x": 1.0}, True), C.Claim("b", "s", "r", {"x": 2.0}, False)]
    smoke = C.records(c, "smoke")
    assert [r["holds"] for r in smoke] == [None, None]
    small = C.records(c, "small")
    assert [r["holds"] for r in small] == [True, False]
    md = C.render_report({"study": small})
    assert "1 of 2 of the papers' claims hold" in md and "NOT reproduced" in md and "study/b" in md
    assert C.metrics_summary(small) == {"a.x": 1.0, "a.holds": 1, "b.x": 2.0, "b.holds": 0}
    json.dumps(small)
    with pytest.raises(ValueError):
        C.records(c + [C.Claim("a", "s", "r", {}, True)], "small")


def test_a_claim_not_measured_at_a_scale_stays_blank_and_out_of_the_counts():
    c = [C.Claim("a", "s", "r", {"x": 1.0}, True), C.Claim("b", "s", "r", {"x": None}, None)]
    small = C.records(c, "small")
    assert [r["holds"] for r in small] == [True, None]  # None is not turned into a failure
    md = C.render_report({"study": small})
    assert "1 of 1 measured (1 not measured at this scale) of the papers' claims hold" in md
    assert "not measured at this scale |" in md and "Not reproduced" not in md
    assert C.metrics_summary(small) == {"a.x": 1.0, "a.holds": 1}


def test_report_keeps_sanity_checks_and_extensions_apart_from_the_papers_claims():
    c = [C.Claim("p", "s", "r", {}, True), C.Claim("e", "s", "r", {}, False, kind="extension"),
         C.Claim("s", "s", "r", {}, True, kind="sanity")]
    recs = C.records(c, "small")
    md = C.render_report({"study": recs})
    # the headline counts only the paper's claims; a failed extension is not a paper claim not reproduced
    assert "1 of 1 of the papers' claims hold; 0 of 1 of this project's extensions hold; 1 of 1 sanity" in md
    assert "Not reproduced:" not in md
    paper, ext, sanity = (md.index(C.KINDS[k]) for k in ("paper", "extension", "sanity"))
    assert paper < md.index("**p**") < ext < md.index("**e**") < sanity < md.index("**s**")
    html = C.render_report_html({"study": recs})
    assert html.startswith("<!DOCTYPE html>") and all(f"<b>{i}</b>" in html for i in "pes")
    with pytest.raises(ValueError, match="kind"):
        C.Claim("x", "s", "r", {}, True, kind="guess")


def _fig4(deltas_errs, se=0.001):
    """Synthetic Figure-4 table: {delta: (err_learning list, err_retrieval list, pi_1 list)} on k grid."""
    ks = [0, 1, 2, 4, 8]
    rows = []
    for delta, (el, er, pi) in deltas_errs.items():
        for k, a, b, p in zip(ks, el, er, pi):
            rows.append({"delta": delta, "k": k, "err_learning": a, "err_retrieval": b, "err_retrieval_task": 0.25,
                         "pi_1": p, "pi_2": 1 - p, "se_modes_diff": se})
    return pd.DataFrame(rows)


def test_modes_claims_follow_their_rules():
    good = _fig4({1 / 81: ([.6, .5, .4, .3, .05], [.7, .3, .05, .1, .2], [.3, .5, .8, .95, .99]),
                  9.0: ([2, .9, .3, .01, 0], [1.8, 1.0, .5, .26, .25], [.3, .3, .3, .3, .3])})
    c = {x.id: x for x in DC.modes_claims(good)}
    assert c["retrieval_then_learning"].holds and c["no_retrieval_large_delta"].holds
    assert c["posterior_concentrates"].holds and c["crossover_nonincreasing"].holds
    assert c["crossover_nonincreasing"].measured["k_star"] == {"1/81": 8, "9": 1}
    # Small delta that never retrieves, large delta that does: both claims must fail.
    bad = _fig4({1 / 81: ([.6, .5, .4, .3, .05], [.7, .6, .5, .4, .3], [.3, .3, .3, .3, .3]),
                 9.0: ([2, .9, .3, .2, .2], [1.8, .5, .05, .02, .03], [.3, .5, .8, .9, .95])})
    c = {x.id: x for x in DC.modes_claims(bad)}
    assert not c["retrieval_then_learning"].holds and not c["no_retrieval_large_delta"].holds
    assert not c["posterior_concentrates"].holds and not c["crossover_nonincreasing"].holds


def test_crossover_counts_a_tie_within_two_paired_se_as_no_retrieval():
    # delta = 9: retrieval 0.04-0.05 below learning at k = 1, 2, 4; at se 0.05 that is a tie (1 s.e.), so
    # k* = 0 and the crossover is non-increasing; at se 0.001 it is retrieval, k* = 8 > 4 of the small delta.
    errs = {1 / 81: ([.6, .5, .4, .3, .05], [.7, .3, .35, .4, .2], [.3, .5, .8, .95, .99]),
            9.0: ([.9, .9, .8, .3, 0], [.95, .85, .75, .26, .25], [.3, .3, .3, .3, .3])}
    tie = {x.id: x for x in DC.modes_claims(_fig4(errs, se=0.05))}["crossover_nonincreasing"]
    assert tie.holds and tie.measured["k_star"] == {"1/81": 2, "9": 0}
    assert tie.measured["k_star_without_ties"] == {"1/81": 4, "9": 8}
    real = {x.id: x for x in DC.modes_claims(_fig4(errs, se=0.001))}["crossover_nonincreasing"]
    assert not real.holds and real.measured["k_star"] == {"1/81": 4, "9": 8}


def test_closer_task_claim_needs_strict_order():
    rows = [{"delta": 1 / 9, "r": r, "k": k, "risk": risk} for k in (1, 2, 4)
            for r, risk in ((1.0, .6), (5 / 3, .5), (3.0, .4))]
    assert DC.closer_task_claim(pd.DataFrame(rows)).holds
    rows[-1]["risk"] = .55  # k=4: closest task no longer best
    assert not DC.closer_task_claim(pd.DataFrame(rows)).holds


def test_power2_grid():
    assert DC.power2_grid(32) == [0, 1, 2, 4, 8, 16, 31]
    assert DC.power2_grid(8) == [0, 1, 2, 4, 7]


def _eval_table(tf_l, tf_r, b_l, b_r, n=8):
    ks = list(range(n))
    return pd.DataFrame({"k": ks, "tf_err_learning": tf_l, "tf_err_retrieval": tf_r, "bayes_err_learning": b_l,
                         "bayes_err_retrieval": b_r, "tf_vs_bayes": 0.01, "y_sq": 2.0})


def test_transformer_claim_requires_both_phases_and_a_close_crossover():
    bayes_l = [.6, .5, .4, .3, .2, .15, .1, .05]
    bayes_r = [.7, .4, .3, .2, .25, .3, .35, .4]
    ok = _eval_table(bayes_l, bayes_r, bayes_l, bayes_r)
    assert DC.transformer_claim([ok], "1/16").holds
    # Pure learner: never closer to w_1 -> no retrieval phase.
    learner = _eval_table(bayes_l, [x + 1 for x in bayes_l], bayes_l, bayes_r)
    assert not DC.transformer_claim([learner]).holds
    # Pure retriever: never learns by the last k, even though "never" is one grid step past Bayes' k*.
    retriever = _eval_table([x + 1 for x in bayes_r], bayes_r, bayes_l, bayes_r)
    assert not DC.transformer_claim([retriever]).holds
    far = _eval_table(bayes_l, bayes_r, bayes_l, bayes_r).assign(tf_vs_bayes=0.5)
    assert not DC.transformer_claim([far]).holds


def _crossing_at(c_tf, c_bayes, delta, n=8):
    """An evaluation table whose transformer / Bayes predictions are closer to w_1 below k = c and to the task
    from k = c on (c = n: never)."""
    def errs(c):
        return [1.0 if k < c else 0.1 for k in range(n)], [0.5 if k < c else 1.0 for k in range(n)]
    (tl, tr), (bl, br) = errs(c_tf), errs(c_bayes)
    return _eval_table(tl, tr, bl, br, n).assign(delta=delta)


def test_crossover_follows_bayes_across_delta_and_fails_when_it_does_not():
    # grid for num_k 8: 0, 1, 2, 4, 7; Bayes k* 4, 2, 0 at delta 1/256, 1/16, 1 (later for smaller delta)
    bayes = {"1/256": 4, "1/16": 2, "1": 0}
    follows = DC.crossover_follows_claim([_crossing_at(c, c, d) for d, c in bayes.items()])
    assert follows.holds and follows.measured["1/16"]["k_star_bayes"] == [2]
    one_off = DC.crossover_follows_claim([_crossing_at({4: 7, 2: 4, 0: 1}[c], c, d) for d, c in bayes.items()])
    assert one_off.holds  # one grid step late everywhere (7 is the grid's last k) still follows
    far = DC.crossover_follows_claim([_crossing_at(0 if d == "1/256" else c, c, d) for d, c in bayes.items()])
    assert not far.holds  # two grid steps early at the smallest delta
    # within one step everywhere, but the transformer's crossover comes LATER as delta grows: not following
    rising = DC.crossover_follows_claim([_crossing_at(t, c, d) for (d, c), t in zip(bayes.items(), (2, 4, 1))])
    assert rising.measured["within_one_step"] and not rising.holds
    never = DC.crossover_follows_claim([_crossing_at(8, 8, "1/256"), _crossing_at(2, 2, "1")])
    assert never.holds  # no crossover within num_k on both sides is agreement
    alone = DC.crossover_follows_claim([_crossing_at(2, 2, "1/16")])
    assert alone.holds is None and "not measured" in alone.notes
