"""task_vectors library (issue 6): the residual patch hook, the TVP-loss gradient path, and the task generators."""

import numpy as np
import pytest
import torch

from repro.models.gpt import GPT
from repro.studies.task_vectors import data as D
from repro.studies.task_vectors import evaluate as E
from repro.studies.task_vectors import train as T
from repro.studies.task_vectors import tvp as V

OFFSET = {"family": "offset", "vocab": 16, "offsets": [1, 2, 3, 4, 5, 6, 7], "k": 4, "k_ood": 6, "noise": 0.2}


def _model(task=OFFSET, n_layer=3):
    torch.manual_seed(0)
    return GPT(T.model_config(task, {"n_layer": n_layer, "n_head": 2, "d_model": 32}, task["k_ood"])).eval()


def _batch(task=OFFSET, B=32, k=4, seed=0, **kw):
    return D.batch(task, B, k, torch.Generator().manual_seed(seed), **kw)


def test_patching_with_the_prompts_own_residual_changes_nothing():
    model, b = _model(), _batch()
    for layer in range(model.cfg.n_layer + 1):
        _, saved = model(b.Z, read=[layer])
        same = V.tvp_forward(model, b.Z, saved[layer][:, -1], layer)
        assert torch.equal(same, V.zero_shot(model, b.Z))


def test_patching_with_another_tasks_vector_changes_the_output():
    model, b = _model(), _batch()
    _, theta = V.icl_forward(model, b, [1])
    other = theta[1].roll(1, 0)  # the vector of a different prompt (mostly a different task)
    assert (V.tvp_forward(model, b.Z, other, 1) - V.tvp_forward(model, b.Z, theta[1], 1)).abs().max() > 1e-4
    # and only from the patched layer on: patching layer 1 leaves the residual entering layer 1 elsewhere intact
    _, h_plain = model(b.Z, read=[1])
    _, h_patch = model(b.Z, read=[1], patch={1: (1, other)})
    torch.testing.assert_close(h_patch[1][:, 0], h_plain[1][:, 0])


def test_tvp_loss_gradient_reaches_layers_below_the_prescribed_one():
    """Block 0 gets TVP-loss gradient through theta (the ICL pass), not only through Z's own query token."""
    layer = 2

    def block0_grad(detach):
        model, b = _model().train(), _batch()
        _, thetas = V.icl_forward(model, b, [layer])
        theta = thetas[layer].detach() if detach else thetas[layer]
        T.loss_of(V.tvp_forward(model, b.Z, theta, layer), b.yz, True).backward()
        return torch.cat([p.grad.flatten() for p in model.blocks[0].parameters()])

    through_theta = block0_grad(False) - block0_grad(True)
    assert through_theta.abs().max() > 1e-6  # detaching theta (the pitfall) would remove exactly this


def test_training_losses_include_the_tvp_term_only_when_asked():
    model, b = _model(), _batch()
    total, icl, tvp = T.losses(model, b, True, None)
    assert tvp is None and torch.equal(total, icl)
    total, icl, tvp = T.losses(model, b, True, 1, lam=0.5)
    torch.testing.assert_close(total, icl + 0.5 * tvp)


def test_offset_prompts_carry_their_task():
    b = _batch(B=64, k=6, seed=3)
    x, y = b.P[:, 0::3], b.P[:, 2::3]
    c = (y - x[:, :6]) % 16
    assert (c == c[:, :1]).all()  # one offset per prompt, recoverable from the demos
    assert torch.equal(c[:, 0], torch.tensor(OFFSET["offsets"])[b.task])
    assert torch.equal(b.y[:, -1], (x[:, -1] + c[:, 0]) % 16)  # the query's answer under the same task
    assert torch.equal(b.yz, (b.Z[:, 0] + c[:, 0]) % 16) and (b.Z[:, 0] != x[:, -1]).all()  # Z: new query
    assert (b.P[:, 1::3] == 16).all() and (b.Z[:, 1] == 16).all()  # "->" tokens


def test_affine_and_noisy_variants():
    task = {**OFFSET, "affine": True, "n_multipliers": 3}
    assert len(D.tasks(task)) == 3 * 7
    b = _batch(task, B=256, k=8, seed=1, noise=0.5)
    x, y = b.P[:, 0::3][:, :8], b.P[:, 2::3]
    a, c = D.tasks(task)[b.task].T
    wrong = (y != (a[:, None] * x + c[:, None]) % 16).float().mean()
    assert 0.35 < wrong < 0.6  # about half the demos replaced (a random token is right 1/16 of the time)
    assert torch.equal(b.y[:, :8], (a[:, None] * x + c[:, None]) % 16)  # targets stay clean


def test_linear_regression_prompts_determine_w():
    task = {"family": "linear", "dim": 3, "k": 8, "k_ood": 10, "noise": 0.1, "x_scale": 2.0}
    b = _batch(task, B=5, k=8, seed=2)
    X, Y = b.P[:, 0::3, :3][:, :8], b.P[:, 2::3, 4]
    w = torch.linalg.lstsq(X, Y[..., None]).solution
    xq = b.P[:, -2, :3]
    torch.testing.assert_close((xq[:, None] @ w)[:, 0, 0], b.y[:, -1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close((b.Z[:, 0, :3][:, None] @ w)[:, 0, 0], b.yz, atol=1e-4, rtol=1e-4)
    scaled = _batch(task, B=2000, k=8, seed=2, x_scale=2.0)
    assert 1.8 < float(scaled.P[:, 0::3, :3].std()) < 2.2


def test_sweep_returns_one_score_per_layer_and_sane_baselines():
    model, b = _model(), _batch(B=64)
    r = E.sweep(model, b, True)
    assert len(r["tvp"]) == model.cfg.n_layer + 1 and all(0 <= s <= 1 for s in r["tvp"])
    assert r["tvp"][0] == r["zero_shot"]  # at the embedding, "->" is the same token in P and Z
    ra = E.sweep(model, b, True, "task-averaged")
    assert ra["tvp"][0] == r["zero_shot"] and ra["icl"] == r["icl"]
    rs = E.sweep(model, b, True, "task-added")
    assert len(rs["tvp"]) == len(r["tvp"]) and rs["icl"] == r["icl"]


def test_query_preserving_patch_is_a_no_op_when_every_prompt_has_the_same_task():
    model = _model()
    b = D.batch(OFFSET, 24, 4, torch.Generator().manual_seed(3), task_ids=torch.full((24,), 2))
    r = E.sweep(model, b, True, "task-added")  # task mean - all-task mean = 0: Z keeps its own residual
    assert r["tvp"] == [r["zero_shot"]] * (model.cfg.n_layer + 1)
    mixed = D.batch(OFFSET, 24, 4, torch.Generator().manual_seed(3), task_ids=torch.arange(24) % 7)
    assert E.sweep(model, mixed, True, "task-added")["tvp"][1:] != [r["zero_shot"]] * model.cfg.n_layer


class _OracleModel:
    """Residual at layer 1 = one-hot of the prompt's offset (read off its first demo); layer 0 = a constant."""
    class cfg:
        n_layer = 1

    def __call__(self, P, read=()):
        c = (P[:, 2] - P[:, 0]) % OFFSET["vocab"]
        h1 = torch.nn.functional.one_hot(c, OFFSET["vocab"]).float()[:, None].expand(-1, P.shape[1], -1)
        return torch.zeros(P.shape[0], P.shape[1], 2), {0: torch.ones_like(h1), 1: h1}


def test_task_probe_reads_the_task_only_where_it_is_encoded_and_on_held_out_prompts():
    ids = torch.arange(7).repeat_interleave(10)
    fit, test = (D.batch({**OFFSET, "noise": 0.0}, 70, 4, torch.Generator().manual_seed(s), task_ids=ids)
                 for s in (1, 2))
    assert not torch.equal(fit.P, test.P)
    acc = E.task_probe(_OracleModel(), fit, test)
    assert acc[1] == 1.0 and abs(acc[0] - 1 / 7) < 1e-9  # constant features: one class, chance
    mlp = E.task_probe(_OracleModel(), fit, test, "mlp probe", seed=0)
    assert mlp[1] == 1.0 and mlp[0] <= 1 / 7 + 1e-6  # the nonlinear readout: the same, and no more from nothing
    assert mlp == E.task_probe(_OracleModel(), fit, test, "mlp probe", seed=0)  # seeded: deterministic
    with pytest.raises(ValueError, match="probe"):
        E.task_probe(_OracleModel(), fit, test, "svm")


def test_the_mlp_probe_reads_a_task_a_linear_probe_cannot():
    """The offset encoded as an XOR-like pattern of two coordinates (no linear separation) is read by the MLP."""
    ids = torch.arange(2).repeat_interleave(200)

    def feats(n_seed):
        gg = torch.Generator().manual_seed(n_seed)
        sign = torch.where(torch.rand(len(ids), generator=gg) < 0.5, -1.0, 1.0)
        x = torch.randn(len(ids), 2, generator=gg).abs() * sign[:, None]
        x[:, 1] *= torch.where(ids == 0, 1.0, -1.0)  # class 0: same-sign quadrants, class 1: opposite
        return x

    xf, xt = feats(1), feats(2)
    assert E._linear_probe(xf, ids, xt, ids, 0) < 0.7
    assert E._mlp_probe(xf, ids, xt, ids, 0) > 0.9


def test_the_untrained_control_is_the_network_training_started_from():
    task, m = OFFSET, {"n_layer": 2, "n_head": 2, "d_model": 32}
    trained, _ = T.train(task, m, {"batch": 4, "steps": 1, "lr": 0.0, "weight_decay": 0.0, "warmup": 0,
                                   "save_every": 10}, seed=5, device=torch.device("cpu"))
    init = E.initial_model(trained.cfg.to_dict(), 5)
    for (name, a), b in zip(trained.state_dict().items(), init.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)  # lr 0: the trained weights are the initial ones
    state = torch.random.get_rng_state()
    E.initial_model(trained.cfg.to_dict(), 6)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched


def _claim_tables(base_curves, tvp_at_l2=0.98, icl=(1.0, (0.99, 1.0, 1.0)), ood_gain=0.05, seeds=(0, 1, 2), k=8,
                  more=(), ood_noise=0.0, history=None):
    """TVP tables of a baseline (one curve per vector variant, layers 0..4) and a TVP-loss model at l = 2, for every
    seed at the trained k; `icl` and `tvp_at_l2` may give one value per seed; `more` adds (model, k, curves, icl)
    rows (a curve may also be a list of per-seed curves). OOD: each TVP-loss model gains `ood_gain` (one value or one
    per seed, or a dict model -> gain) over the baseline, plus alternating +-`ood_noise` per seed. history: model ->
    its loss curve (100 rows); models not named get a converged one."""
    import pandas as pd

    def per_seed(v, i):
        return v[i] if isinstance(v, (list, tuple)) else v

    def curve_of(curve, i):
        return curve[i] if isinstance(curve[0], (list, tuple)) else curve

    rows = []
    models = [("baseline", k, base_curves, icl[0]),
              ("tvp_l2", k, {"per-prompt": [[0.05, 0.3, per_seed(tvp_at_l2, i), 0.5, 0.2] for i in range(len(seeds))]},
               icl[1]), *more]
    for i, seed in enumerate(seeds):
        for model, kk, curves, model_icl in models:
            for vectors, curve in curves.items():
                rows += [{"model": model, "seed": seed, "k": kk, "vectors": vectors, "layer": layer, "tvp": v,
                          "icl": per_seed(model_icl, i), "zero_shot": 0.05, "metric": "accuracy"}
                         for layer, v in enumerate(curve_of(curve, i))]
    names = dict.fromkeys(m for m, *_ in models)

    def gain_of(m):
        return ood_gain.get(m, 0.0) if isinstance(ood_gain, dict) else ood_gain

    ood = pd.DataFrame([{"model": m, "seed": seed, "setting": st, "metric": "accuracy",
                         "score": sc + ((per_seed(gain_of(m), i) + ood_noise * (-1) ** i) if m.startswith("tvp")
                                        else 0.0)}
                        for m in names for i, seed in enumerate(seeds)
                        for st, sc in (("in-distribution", 1.0), ("k=12 demos", 0.6), ("20% noisy demos", 0.7))])
    history = history or {}
    steps = list(range(25, 2501, 25))
    hist = pd.DataFrame([{"model": m, "seed": seed, "step": st, "loss": loss}
                         for m in names for seed in seeds
                         for st, loss in zip(steps, history.get(m) or [0.35 + 3.1 * 0.9 ** j for j in range(100)])])
    return pd.DataFrame(rows), ood, hist


LAYERS = {"baseline": None, "tvp_l2": 2}
GATES = {"icl_accuracy": 0.9, "tvp_loss_final": 0.6, "tvp_loss_drop": 0.05}
FLAT = [0.05] * 5
WEAK = {"per-prompt": FLAT, "task-averaged": [0.05, 0.4, 0.6, 0.5, 0.3], "task-added": FLAT,
        "linear probe": [0.07, 0.9, 1.0, 1.0, 1.0], "mlp probe": [0.07, 0.95, 1.0, 1.0, 1.0],
        "mlp probe, untrained": [0.07, 0.3, 0.25, 0.25, 0.2]}
STILL_FALLING = [3.5 - 0.022 * j for j in range(100)]  # 1.3 at the end and still falling: the review's TVP models


def _all(*args, layers=LAYERS, gates=GATES, **kw):
    from repro.studies.task_vectors.claims import all_claims

    tvp, ood, hist = _claim_tables(*args, **kw)
    return all_claims(tvp, ood, hist, layers, gates, 8)


def _claims(*args, **kw):
    return {x.id: x for x in _all(*args, **kw)}


def _records(*args, **kw):
    from repro.core.claims import records

    return {r["id"]: r for r in records(_all(*args, **kw), "small")}


def test_task_vector_claims_follow_the_protocol_and_fail_where_the_paper_is_wrong():
    c = _claims(WEAK)
    assert c["task_vectors_emerge"].holds and c["task_vectors_emerge"].measured["carried_by"] == ["task-averaged"]
    assert c["task_vectors_emerge"].measured["best_layer_task-averaged"] == 2
    assert c["tvp_loss_strong_vectors"].holds and c["tvp_loss_improves_ood"].holds and c["tvp_loss_keeps_icl"].holds
    assert all(g.passed for x in c.values() for g in x.gates)  # learned and converged: every gate passes
    # no task vector under the protocol (per-prompt alone emerging does not carry the verdict)
    c = _claims({**WEAK, "per-prompt": [0.05, 0.4, 0.6, 0.5, 0.3], "task-averaged": FLAT})
    assert not c["task_vectors_emerge"].holds and c["task_vectors_emerge"].measured["carried_by"] == ["per-prompt"]
    # a vector as good as ICL is not a "weak" emergent one
    assert not _claims({**WEAK, "task-averaged": [0.05, 0.4, 1.0, 1.0, 0.3]})["task_vectors_emerge"].holds
    # TVP-loss vector weak at its layer: not strong; OOD worse: not improved
    bad = _claims(WEAK, tvp_at_l2=0.6, ood_gain=-0.05)
    assert not bad["tvp_loss_strong_vectors"].holds and not bad["tvp_loss_improves_ood"].holds


def test_the_added_patch_never_carries_emergence_and_strong_vectors_is_a_sanity_check():
    """Issue 32: the query-preserving added patch has no power (0.08 where per-prompt TVP scored 0.997), so a
    vector found only by it carries nothing; TVP-loss trains the strong-vector quantity, so that is a sanity check."""
    added_only = _claims({**WEAK, "task-averaged": FLAT, "task-added": [0.05, 0.4, 0.6, 0.5, 0.3]})
    e = added_only["task_vectors_emerge"]
    assert e.measured["rule_by_variant"]["task-added"]["holds"] is True  # reported ...
    assert e.measured["carried_by"] == [] and e.holds is False  # ... but carries nothing
    c = _claims(WEAK)
    assert c["tvp_loss_strong_vectors"].kind == "sanity"
    assert {x.kind for i, x in c.items() if i != "tvp_loss_strong_vectors"} == {"paper"}


def test_probes_report_the_encoding_against_the_untrained_network():
    p = _claims(WEAK)["task_vectors_emerge"].measured["probes"]
    assert set(p) == {"linear probe", "mlp probe", "mlp probe, untrained"}
    assert p["mlp probe"]["best_layer"] == 2 and p["mlp probe"]["accuracy"]["mean"] == pytest.approx(1.0)
    assert p["mlp probe"]["above_untrained"]["mean"] == pytest.approx(0.75)
    # probes never decide the verdict: the same tables with probes at chance give the same verdict
    chance = {**WEAK, "linear probe": [0.07] * 5, "mlp probe": [0.07] * 5}
    assert _claims(chance)["task_vectors_emerge"].holds is True


def test_an_untrained_baseline_makes_its_claims_not_measured():
    untrained = _records(WEAK, icl=(0.06, (0.99, 1.0, 1.0)))  # the baseline's ICL at chance
    for cid in ("task_vectors_emerge", "tvp_loss_keeps_icl", "tvp_loss_improves_ood"):
        assert untrained[cid]["holds"] is None and "baseline" in untrained[cid]["not_measured"], cid
        assert "in-context learning" in untrained[cid]["not_measured"]
    one_seed_down = _records(WEAK, icl=((1.0, 0.5, 1.0), (0.99, 1.0, 1.0)))  # the worst seed decides
    assert one_seed_down["task_vectors_emerge"]["not_measured"] and "0.5" in one_seed_down["task_vectors_emerge"][
        "not_measured"]
    assert _records(WEAK)["task_vectors_emerge"]["holds"] is True  # the same tables with a trained baseline
    moved = ("baseline", 4, {**WEAK, "task-averaged": [0.05, 0.6, 0.4, 0.3, 0.2]}, 0.06)
    r = _records(WEAK, icl=(0.06, 1.0), more=[moved])
    assert r["location_moves_with_context"]["holds"] is None and r["location_moves_with_context"]["not_measured"]
    deep = ("baseline_8l", 8, {**WEAK, "task-averaged": [0.05, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.5, 0.2]}, 0.2)
    r = _records(WEAK, layers={**LAYERS, "baseline_8l": None}, more=[deep])  # the second depth never learned ICL
    assert r["location_moves_with_depth"]["holds"] is None and "baseline_8l" in r["location_moves_with_depth"][
        "not_measured"]


def test_an_unconverged_tvp_loss_model_makes_the_icl_and_ood_claims_not_measured():
    r = _records(WEAK, history={"tvp_l2": STILL_FALLING})
    for cid in ("tvp_loss_keeps_icl", "tvp_loss_improves_ood", "deeper_layer_helps_more"):
        assert r[cid]["holds"] is None and "tvp_l2" in r[cid]["not_measured"], cid
    assert "plateau" in r["tvp_loss_keeps_icl"]["not_measured"] and "1.421" in r["tvp_loss_keeps_icl"]["not_measured"]
    assert r["tvp_loss_strong_vectors"]["holds"] is True  # the vector itself is there: no convergence gate
    assert r["task_vectors_emerge"]["holds"] is True  # baseline claims do not depend on the TVP-loss model
    # low but still falling fast over the last tenth: the second gate alone stops it
    low_falling = [0.62 + 3.0 * 0.9 ** j for j in range(80)] + [0.62 - 0.01 * j for j in range(20)]  # 0.48, -17%
    r = _records(WEAK, history={"tvp_l2": low_falling})
    gates = {g["skill"].split(" (")[0]: g["passed"] for g in r["tvp_loss_keeps_icl"]["gates"]}
    assert r["tvp_loss_keeps_icl"]["holds"] is None and list(gates.values()).count(False) == 1, gates
    # an untrained TVP-loss model (ICL at chance): the strong-vector ratio means nothing
    r = _records(WEAK, icl=(1.0, 0.05))
    assert r["tvp_loss_strong_vectors"]["holds"] is None and "tvp_l2" in r["tvp_loss_strong_vectors"]["not_measured"]


def test_training_tail_reads_the_last_tenth_of_the_loss():
    from repro.studies.task_vectors.claims import training_tail

    *_, hist = _claim_tables(WEAK, history={"tvp_l2": STILL_FALLING})
    t = training_tail(hist, "tvp_l2")
    assert list(t.index) == [0, 1, 2]
    assert t["final"].iloc[0] == pytest.approx(np.mean(STILL_FALLING[-10:]))
    assert t["drop"].iloc[0] == pytest.approx(0.22 / np.mean(STILL_FALLING[-10:]))
    assert training_tail(hist, "baseline")["drop"].max() < 0.001


def test_icl_claim_needs_three_seeds_and_fails_when_tvp_loss_hurts_icl():
    hurt = _claims(WEAK, icl=(1.0, 0.9))  # ten points worse on every seed
    assert hurt["tvp_loss_keeps_icl"].holds is False
    assert hurt["tvp_loss_keeps_icl"].measured["tvp_l2"]["gain_mean"] == pytest.approx(-0.1)
    # consistently a little worse, inside the tolerance: "no worse than 2 points" holds (the lower end is -0.01)
    slightly = _claims(WEAK, icl=([1.0, 0.99, 0.98], [0.99, 0.98, 0.97]))
    assert slightly["tvp_loss_keeps_icl"].holds is True
    noisy = _claims(WEAK, icl=([1.0, 0.97, 0.99], [0.99, 0.98, 0.985]))  # worse on average, within the noise
    assert noisy["tvp_loss_keeps_icl"].holds is True
    # a mean inside the tolerance (-0.01) whose interval reaches past it: no verdict on noise
    wide = _claims(WEAK, icl=([1.0, 1.0, 1.0], [1.0, 0.955, 1.015]))
    m = wide["tvp_loss_keeps_icl"].measured["tvp_l2"]
    assert m["gain_mean"] == pytest.approx(-0.01) and m["gain_lo"] < -0.02
    assert wide["tvp_loss_keeps_icl"].holds is False
    one = _claims(WEAK, seeds=(0,))
    assert one["tvp_loss_keeps_icl"].holds is None and "not measured" in one["tvp_loss_keeps_icl"].notes


def test_emergence_and_strong_vectors_need_their_effect_beyond_seed_noise():
    # the protocol's best TVP beats zero-shot + 0.05 on average (0.12 vs 0.10), but one seed sits at zero-shot
    noisy = {**WEAK, "task-averaged": [[0.05, 0.2, 0.05, 0.05, 0.05], [0.05, 0.05, 0.05, 0.05, 0.05],
                                       [0.05, 0.11, 0.05, 0.05, 0.05]]}
    c = _claims(noisy)
    e = c["task_vectors_emerge"].measured["rule_by_variant"]["task-averaged"]["above_zero_shot"]
    assert e["mean"] > 0.05 and e["lo"] < 0.05 and c["task_vectors_emerge"].holds is False
    # a TVP-loss vector above 0.9 x ICL on average but not on every seed's spread
    c = _claims(WEAK, tvp_at_l2=(1.0, 0.86, 0.98), icl=(1.0, 1.0))
    e = c["tvp_loss_strong_vectors"].measured["tvp_l2"]["margin_over_threshold"]
    assert e["mean"] > 0 and e["lo"] < 0 and c["tvp_loss_strong_vectors"].holds is False


def test_ood_claims_need_every_gain_beyond_seed_noise():
    worse = _claims(WEAK, ood_gain=-0.03)  # the paper wrong: TVP-loss worse out of distribution on every seed
    assert worse["tvp_loss_improves_ood"].holds is False
    noisy = _claims(WEAK, ood_gain=0.02, ood_noise=0.05)  # +0.02 on average, seeds at -0.03, +0.07, -0.03
    assert noisy["tvp_loss_improves_ood"].holds is False
    assert _claims(WEAK, ood_gain=0.02)["tvp_loss_improves_ood"].holds is True  # the same gain on every seed
    layers = {**LAYERS, "tvp_l3": 3}
    tvp_l3 = ("tvp_l3", 8, {"per-prompt": [0.05, 0.3, 0.5, 0.98, 0.2]}, 0.99)
    deeper = _claims(WEAK, layers=layers, more=[tvp_l3], ood_gain={"tvp_l2": 0.02, "tvp_l3": 0.08})
    assert deeper["deeper_layer_helps_more"].holds is True
    # deeper ahead on average (+0.01) but within the seeds' spread
    within = _claims(WEAK, layers=layers, more=[tvp_l3],
                     ood_gain={"tvp_l2": [0.02, 0.05, 0.02], "tvp_l3": [0.06, 0.02, 0.04]})
    d = within["deeper_layer_helps_more"].measured["deeper_minus_shallower"]["l=3 minus l=2"]
    assert d["mean"] == pytest.approx(0.01) and within["deeper_layer_helps_more"].holds is False
    shallower = _claims(WEAK, layers=layers, more=[tvp_l3], ood_gain={"tvp_l2": 0.08, "tvp_l3": 0.02})
    assert shallower["deeper_layer_helps_more"].holds is False
    one = _claims(WEAK)["deeper_layer_helps_more"]
    assert one.holds is None and "not measured" in one.notes  # one TVP-loss layer


def test_location_claims_measure_context_and_depth_and_fail_when_the_vector_stays_put():
    short_same = ("baseline", 4, WEAK, 1.0)  # the same curve at 4 demos: best layer and score unchanged
    c = _claims(WEAK, more=[short_same])
    assert c["location_moves_with_context"].holds is False
    assert c["location_moves_with_context"].measured["by_k"][4]["best_layer"] == 2
    moved = ("baseline", 4, {**WEAK, "task-averaged": [0.05, 0.6, 0.4, 0.3, 0.2]}, 1.0)  # best at layer 1
    assert _claims(WEAK, more=[moved])["location_moves_with_context"].holds is True
    wobble = ("baseline", 4, {**WEAK, "task-averaged": [0.05, 0.58, 0.57, 0.5, 0.3]}, 1.0)  # best at 1, inside
    flat_top = {**WEAK, "task-averaged": [0.05, 0.57, 0.6, 0.5, 0.3]}  # the long context's plateau: layers 1-2
    assert _claims(flat_top, more=[wobble])["location_moves_with_context"].holds is False  # a wobble is no move
    stronger_short = ("baseline", 4, {**WEAK, "task-averaged": [0.05, 0.4, 0.8, 0.5, 0.3]}, 1.0)
    assert _claims(WEAK, more=[stronger_short])["location_moves_with_context"].holds is True  # weakens with k
    nothing = ("baseline", 4, {**WEAK, "task-averaged": [0.05, 0.06, 0.05, 0.05, 0.05]}, 1.0)
    assert _claims({**WEAK, "task-averaged": [0.05, 0.05, 0.07, 0.05, 0.05]},
                   more=[nothing])["location_moves_with_context"].holds is False  # no task vector to move
    # the long context's layer 1 is 0.1 below its best on average, but on one seed only: inside its plateau
    noisy_long = {**WEAK, "task-averaged": [[0.05, 0.3, 0.6, 0.5, 0.3], [0.05, 0.6, 0.6, 0.5, 0.3],
                                            [0.05, 0.6, 0.6, 0.5, 0.3]]}
    noisy = _claims(noisy_long, more=[moved])["location_moves_with_context"]
    assert noisy.measured["by_k"][8]["plateau"] == [1, 2] and noisy.holds is False
    assert c["location_moves_with_depth"].holds is None  # one depth
    assert _claims(WEAK)["location_moves_with_context"].holds is None  # one context length
    layers = {**LAYERS, "baseline_8l": None}
    half = [0.05, 0.2, 0.4, 0.5, 0.6, 0.5, 0.4, 0.3, 0.2]  # 8 layers, best at 4 = the same relative depth 1/2
    same = _claims(WEAK, layers=layers, more=[("baseline_8l", 8, {**WEAK, "task-averaged": half}, 1.0)])
    assert same["location_moves_with_depth"].holds is False
    assert same["location_moves_with_depth"].measured["by_model"]["baseline_8l"]["relative_best"] == 0.5
    deep = [0.05, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.5, 0.2]  # best at 6/8
    assert _claims(WEAK, layers=layers, more=[("baseline_8l", 8, {**WEAK, "task-averaged": deep},
                                                1.0)])["location_moves_with_depth"].holds is True


def test_tvp_table_sweeps_every_context_length_and_refuses_untrained_positions():
    model = _model()
    t = E.tvp_table(model, OFFSET, 4, "cpu", context_ks=[2, 4], seed=0, untrained=_model())
    assert sorted(t.k.unique()) == [2, 4]
    assert set(t[t.k == 4].vectors) == {"per-prompt", "task-averaged", "task-added", "linear probe", "mlp probe",
                                        "mlp probe, untrained"}
    assert set(t[t.k == 2].vectors) == {"per-prompt", "task-averaged"}
    assert (t.groupby(["k", "vectors"]).layer.count() == model.cfg.n_layer + 1).all()
    with pytest.raises(ValueError, match="context_ks"):
        E.tvp_table(model, OFFSET, 4, "cpu", context_ks=[7], seed=0)  # beyond k_ood = 6


def test_evaluation_prompts_follow_the_models_seed_and_never_repeat_a_training_batch():
    from repro.core.train import step_generator

    model = _model()
    a, b = (E.pca_table(model, OFFSET, 1, 4, "cpu", seed=sd) for sd in (0, 1000))  # seed_set 0 and 1
    assert not np.allclose(a[["pc1", "pc2"]].to_numpy(), b[["pc1", "pc2"]].to_numpy())
    same = E.pca_table(model, OFFSET, 1, 4, "cpu", seed=0)
    np.testing.assert_array_equal(a[["pc1", "pc2"]].to_numpy(), same[["pc1", "pc2"]].to_numpy())
    streams = {E.eval_generator(sd, j, "cpu").initial_seed() for sd in (0, 1, 2) for j in (1, 2, 14, 1000, 2000)}
    training = {step_generator(sd, st, torch.device("cpu")).initial_seed() for sd in (0, 1, 2) for st in range(20000)}
    assert len(streams) == 15 and not streams & training
