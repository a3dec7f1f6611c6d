"""The three guards between a measurement and a verdict: competence gates, spread rules, seed sets."""
import numpy as np
import pytest

from repro.core import seeds
from repro.core.claims import (Claim, Gate, boot_effect, clearly_above, clearly_below, cluster_bootstrap_ci,
                               effect, gate, no_worse_than, records, render_report, use_seed_set)


def _claim(holds=True, gates=()):
    return Claim(id="c", statement="s", rule="r", measured={"x": 1.0}, holds=holds, gates=list(gates))


def test_failed_gate_makes_the_verdict_not_measured_whatever_the_rule_said():
    untrained = Gate(model="the model", skill="held-out accuracy", value=0.1, threshold=0.8)
    for holds in (True, False):
        rec = records([_claim(holds, [untrained])], "small")[0]
        assert rec["holds"] is None
        assert rec["not_measured"].startswith("not measured: the model did not learn held-out accuracy (0.1;")
        assert rec["gates"][0]["passed"] is False


def test_passed_gate_keeps_the_verdict_and_records_the_number():
    learned = Gate(model="m", skill="loss below the copy plateau", value=0.2, threshold=1.0, higher=False)
    rec = records([_claim(False, [learned])], "small")[0]
    assert rec["holds"] is False and rec["not_measured"] is None and rec["gates"][0]["value"] == 0.2


def test_undefined_gate_value_fails_the_gate():
    assert not Gate("m", "s", float("nan"), 0.5).passed and not Gate("m", "s", None, 0.5).passed


def test_gate_threshold_comes_from_config_and_names_the_missing_key():
    assert gate({"acc": 0.9}, "acc", "m", "s", 0.95).passed
    with pytest.raises(KeyError, match="gates.acc"):
        gate({}, "acc", "m", "s", 0.95)


def test_better_needs_the_effect_beyond_two_standard_errors():
    clear = effect([0.30, 0.32, 0.29, 0.31], "seed")
    noise = effect([0.004, 0.0, 0.0, 0.012, -0.002], "seed")  # +0.003 +- 0.002: within noise
    assert clearly_above(clear) and not clearly_above(noise)
    assert not clearly_above(effect([0.0, 0.0, 0.0], "seed"))  # a tie fails
    assert not clearly_above(effect([0.5], "seed"))  # one unit has no spread
    # a tie that arrives through float arithmetic (a slope of 0.9, 0.9, 0.9 against the stop) is still a tie
    slopes = [float(np.polyfit([0.2, 0.5, 0.8], [0.9, 0.9, 0.9], 1)[0]) + d for d in (1e-17, 2e-17, 1.5e-17)]
    assert min(slopes) > 0 and not clearly_above(effect(slopes, "seed"))
    assert not clearly_below(effect([-1e-16, -2e-16, -1e-16], "seed"))
    assert clearly_below(effect([-0.3, -0.31, -0.29], "seed")) and not clearly_below(noise)


def test_no_worse_judges_the_lower_end_not_the_mean():
    ok = effect([-0.01, 0.0, 0.01, -0.005], "seed")
    wide = effect([-0.2, 0.19, 0.0, 0.02], "seed")  # mean near 0, lower end far below the tolerance
    assert no_worse_than(ok, 0.05) and not no_worse_than(wide, 0.05)


def test_cluster_bootstrap_is_wider_than_treating_shared_model_cells_as_independent():
    rng = np.random.default_rng(0)
    model_effect = rng.normal(0, 1, 4)  # four trained models, each with its own offset
    values = np.concatenate([m + rng.normal(0, 0.1, 50) for m in model_effect])
    clusters = np.repeat(np.arange(4), 50)
    lo, hi = cluster_bootstrap_ci(values, clusters)
    naive = boot_effect(values, "cell")
    assert (hi - lo) > 3 * (naive["hi"] - naive["lo"])


def test_seed_set_moves_every_seed_key_to_a_disjoint_set():
    cfg = {"seeds": [0, 1, 2], "study": {"a": {"seed": 0, "mc_seed": 3, "seed_len": 4, "n": 5,
                                               "eval": {"seeds": [0], "data_seed": 7}}}}
    moved = seeds.shift_tree(cfg, 1)
    assert moved["seeds"] == [1000, 1001, 1002]
    a = moved["study"]["a"]
    assert (a["seed"], a["mc_seed"], a["seed_len"], a["n"]) == (1000, 1003, 4, 5)
    assert a["eval"] == {"seeds": [1000], "data_seed": 1007}
    assert seeds.shift_tree(cfg, 0) == cfg
    assert seeds.results_root(0) == "results" and seeds.results_root(1) == "results/seed_set_1"


def test_bootstrap_moves_with_the_seed_set():
    x = np.random.default_rng(1).normal(size=30)
    a = boot_effect(x, "prompt")
    use_seed_set(1)
    try:
        b = boot_effect(x, "prompt")
    finally:
        use_seed_set(0)
    assert a["lo"] != b["lo"] and abs(a["lo"] - b["lo"]) < 0.2


def test_report_counts_gated_claims_apart_and_shows_both_seed_sets():
    gated = Claim(id="g", statement="s", rule="r", measured={}, holds=True, gates=[Gate("m", "skill", 0.0, 1.0)])
    held, flips = _claim(True), Claim(id="f", statement="s", rule="r", measured={}, holds=True)
    base = {"st": records([gated, held, flips], "small")}
    alt_flip = Claim(id="f", statement="s", rule="r", measured={}, holds=False)
    alt = {"st": records([gated, _claim(True), alt_flip], "small")}
    text = render_report(base, alt)
    assert "Not measured because a model did not learn (competence gate failed): st/g" in text
    assert "1 not measured because a model did not learn" in text
    assert "seed set 1 | stable?" in text
    assert "stable (holds)" in text and "FLIPS (holds -> fails)" in text
    assert "2 of 3 verdicts" in text and "st/f" in text.split("Robustness:")[1].split("\n")[0]
    assert "seed set 1" not in render_report(base)
