"""r2f foundations (issue 17, in progress): the closed-form theory, the planner's text format and parser, and
the alternating schedule."""

import numpy as np
import pytest

from repro.studies.r2f import planner as P
from repro.studies.r2f import schedule as S
from repro.studies.r2f import theory as T


def test_closed_form_matches_the_briefs_table():
    alphas = [0, 0.5, 0.8, 0.85, 0.9, 0.95, 1]
    want = [10.0, 5.02, 2.35, 2.17, 2.35, 3.41, 19.0]
    np.testing.assert_allclose(T.w2_curve(alphas), want, atol=0.006)
    grid = np.linspace(0, 1, 201)
    curve = T.w2_curve(grid)
    assert curve.min() < 0.2 * curve[-1] and 0.8 < grid[curve.argmin()] < 0.9  # U-shaped, minimum near 0.85


def test_w2_of_fitted_samples_agrees_with_the_closed_form():
    rng = np.random.default_rng(0)
    mean, var = T.interpolate(0.5)
    x = rng.normal(mean, np.sqrt(var), size=(200_000, 2))
    assert T.w2_gaussian_fit(x) == pytest.approx(T.w2_diag((mean, var), T.TARGET), rel=0.01)
    assert T.w2_gaussian_fit(rng.normal(size=(200_000, 2))) < 0.02


def test_planner_text_round_trips():
    plan = P.Plan("a red circle", (2,), (("a red round", "a red circle"),))
    assert P.parse(P.render(plan), plan.prompt) == plan
    none = P.Plan("a red square", (), ())
    assert P.parse(P.render(none), none.prompt) == none and none.sequence() == ["a red square"]
    assert plan.sequence() == ["a red round", "a red circle"]


def test_parser_sorts_levels_with_their_pairs_and_reads_an_llm_style_answer():
    text = ("Let me think step by step...\n### Rare Concepts: hairy shark AND spotted clams\n"
            "### Visual Detail Level: 5 AND 3\n"
            "### Final Prompt Sequence: a hairy fish BREAK a hairy shark AND two spotted shellfish BREAK two spotted "
            "clams")
    plan = P.parse(text, "a hairy shark and two spotted clams")
    assert plan.levels == (3, 5)
    assert plan.pairs == (("two spotted shellfish", "two spotted clams"), ("a hairy fish", "a hairy shark"))
    assert plan.sequence() == ["a hairy fish and two spotted shellfish", "a hairy fish and two spotted clams",
                               "a hairy shark and two spotted clams"]
    assert P.stop_steps(plan, 50) == [20, 40]  # the SD3 map: level 3 -> 20, level 5 -> 40


@pytest.mark.parametrize("text, match", [
    ("### Visual Detail Level: 2\n", "Final Prompt Sequence"),
    ("### Visual Detail Level: 2 AND 3\n### Final Prompt Sequence: a BREAK b", "2 visual detail levels for 1"),
    ("### Visual Detail Level: high\n### Final Prompt Sequence: a BREAK b", "integers"),
    ("### Visual Detail Level: 7\n### Final Prompt Sequence: a BREAK b", "0..5"),
])
def test_parser_refuses_malformed_answers(text, match):
    with pytest.raises(ValueError, match=match):
        P.parse(text, "b")


def test_alternating_switches_exactly_at_the_stop_steps():
    # one concept, stop 4 of 10: frequent on even steps before 4, the prompt everywhere else
    assert S.alternating(10, [4]) == [0, 1, 0, 1, 1, 1, 1, 1, 1, 1]
    # the repo's unsorted stops (40, 20) never reach the last prompt on even steps; sorted they do
    seq = S.alternating(50, [40, 20])
    assert [seq[i] for i in range(0, 50, 2)] == [0] * 10 + [1] * 10 + [2] * 5
    assert all(seq[i] == 2 for i in range(1, 50, 2))
    assert S.alternating(6, [0]) == [1] * 6  # level 0: the prompt from the first step
    assert S.interpolation(5, 0.3, 2) == [0.3, 0.3, 0.0, 0.0, 0.0]


def test_rule_based_planner_family_ablation_picks_the_umbrella_concept_first():
    family = {"circle": "round", "ring": "round", "square": "angular"}
    counts = {("red", "circle"): 2, ("red", "round"): 300, ("red", "object"): 900, ("blue", "ring"): 300,
              ("blue", "circle"): 1}
    fam = dict(substitute="family")
    assert P.rule_based("red", "circle", counts, family, 2, 20, **fam).pairs == (("a red round", "a red circle"),)
    assert P.rule_based("blue", "ring", counts, family, 2, 20, **fam).pairs == ()  # frequent: no substitute
    # no umbrella with enough examples: the sibling shape with the most
    assert P.rule_based("blue", "circle", counts, family, 2, 20, **fam).pairs == (("a blue ring", "a blue circle"),)


def test_rule_based_planner_keeps_the_shape_and_swaps_the_colour():
    from repro.studies.r2f import world as W

    # the small world: "purple circle" (0 renders) and "cyan circle" (2) are rare; red, blue, green and yellow
    # circles have 250 each, a tie that goes to the palette's first colour
    counts = W.concept_counts(W.counts_table(250, {"purple circle": 0, "cyan circle": 2, "red circle": 3}))
    plan = P.rule_based("purple", "circle", counts, W.FAMILY, 2, 20, colours=W.COLOUR_NAMES)
    (f, r), = plan.pairs
    assert r == "a purple circle" and f == "a blue circle"  # red has only 3 renders; blue is next in the palette
    assert f.split()[2] == "circle" and f.split()[1] != "purple"  # same shape, another colour
    assert plan.levels == (2,) and plan.sequence() == ["a blue circle", "a purple circle"]
    assert P.rule_based("purple", "circle", counts, W.FAMILY, 2, 20).pairs == plan.pairs  # it is the default
    # the most frequent colour wins over the palette order; ties follow the order given, not dict order
    c2 = {**counts, ("yellow", "circle"): 400}
    assert P.rule_based("purple", "circle", c2, W.FAMILY, 2, 20, colours=W.COLOUR_NAMES).pairs[0][0] == \
        "a yellow circle"
    rev = tuple(reversed(W.COLOUR_NAMES))
    assert P.rule_based("purple", "circle", counts, W.FAMILY, 2, 20, colours=rev).pairs[0][0] == "a yellow circle"
    # a frequent pair is left alone; forced, it still gets the shape-keeping substitute
    assert P.rule_based("blue", "circle", counts, W.FAMILY, 2, 20).pairs == ()
    assert P.rule_based("blue", "circle", counts, W.FAMILY, 2, 20, force=True,
                        colours=W.COLOUR_NAMES).pairs == (("a green circle", "a blue circle"),)
    # no other colour of the shape is frequent (the shape itself is rare): the family rule applies
    few = W.concept_counts(W.counts_table(250, {f"{c} star": 1 for c in W.COLOUR_NAMES}))
    assert P.rule_based("red", "star", few, W.FAMILY, 2, 20).pairs == (("a red linear", "a red star"),)
    # the family ablation gives the earlier substitute on the same counts
    assert P.rule_based("purple", "circle", counts, W.FAMILY, 2, 20, substitute="family").pairs == (
        ("a purple round", "a purple circle"),)
    with pytest.raises(ValueError, match="shape_keeping, family"):
        P.rule_based("purple", "circle", counts, W.FAMILY, 2, 20, substitute="sibling")


def test_a_bad_substitute_in_the_config_is_one_line_naming_the_key(tmp_path):
    import copy

    import yaml
    from conftest import ROOT

    from repro.core import config as C

    study = yaml.safe_load(open(f"{ROOT}/config/studies/r2f.yaml"))
    (tmp_path / "studies").mkdir()
    for mutate, expect in [
        (lambda s: s["small"]["planner"].update(substitute="sibling"),
         ["'small.planner.substitute' is 'sibling'", "shape_keeping, family"]),
        (lambda s: s["small"]["planner"].update(ablations=["umbrella"]), ["'small.planner.ablations.0'"]),
        (lambda s: s["small"]["claims"].pop("no_harm_tolerance"), ["'no_harm_tolerance' is a required property"]),
    ]:
        bad = copy.deepcopy(study)
        mutate(bad)
        (tmp_path / "studies" / "r2f.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(C.ConfigError) as err:
            C.load_study("r2f", "small", tmp_path, f"{ROOT}/workflow/schemas")
        msg = str(err.value)
        assert "\n" not in msg and "r2f.yaml" in msg, msg
        for part in expect:
            assert part in msg, msg


def test_ddim_wrapper_matches_diffusers_step_and_the_closed_form():
    import torch

    from repro.studies.r2f import diffusion as D

    _, sched = D.schedulers(200)
    sched.set_timesteps(40)
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    for t in (sched.timesteps[0], sched.timesteps[17], sched.timesteps[-1]):
        want = sched.step(eps, t, x).prev_sample
        assert torch.allclose(D.ddim_step_closed_form(sched, eps, int(t), x), want, atol=1e-6)
    # the sampler's loop is diffusers' own: a constant eps prediction gives the same trajectory step by step
    sched.set_timesteps(10)
    x0 = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    manual = x0.clone()
    for t in sched.timesteps:
        manual = sched.step(torch.ones_like(manual), t, manual).prev_sample
    got = D.sample(lambda x, t, i: torch.ones_like(x), (4, 2), sched, 10, torch.Generator().manual_seed(3))
    assert torch.allclose(got, manual)
    assert torch.allclose(D.cfg(torch.ones(2), torch.zeros(2), 3.0), torch.full((2,), 3.0))


def test_learned_2d_rare_concept_is_rescued_by_the_frequent_one():
    import torch

    from repro.studies.r2f import toy2d

    torch.set_num_threads(1)
    cfg = dict(n_freq=5000, n_rare=8, n_train_steps=100, steps=800, batch=256, lr=3e-3, label_dropout=0.2,
               n_samples=1000, sample_steps=20, alphas=[0.0, 0.5, 1.0], stop_fracs=[0.4])
    table = toy2d.evaluate(toy2d.train(cfg, 0), cfg, 0)
    frequent_only, half, rare_only, alternating = table[table.method != "frequent_fit"].w2.tolist()
    assert half < min(frequent_only, rare_only)  # U-shaped in alpha
    assert alternating < 0.7 * rare_only  # R2F's schedule beats the rare prompt alone
    # the competence row: the frequent-only samples against the frequent concept's own N((0, 10), I)
    fit = table[table.method == "frequent_fit"].w2
    assert len(fit) == 1 and float(fit.iloc[0]) < 0.5 * frequent_only


def test_world_counts_and_umbrella_concepts():
    from repro.studies.r2f import world as W

    table = W.counts_table(300, {"red circle": 0, "blue square": 3})
    assert table[("red", "circle")] == 0 and table[("blue", "square")] == 3 and table[("red", "ring")] == 300
    cc = W.concept_counts(table)
    assert cc[("red", "round")] == 300 and cc[("blue", "angular")] == 603 and cc[("red", "object")] == 7 * 300
    with pytest.raises(ValueError, match="unknown"):
        W.counts_table(300, {"pink circle": 1})
    assert W.parse_prompt("a red angular") == (0, W.object_id("angular"))
    with pytest.raises(ValueError, match="toy prompts"):
        W.parse_prompt("a hairy frog")


def test_hierarchical_dropout_rates_and_targets():
    import torch

    from repro.studies.r2f import world as W

    n = 40_000
    shape = torch.randint(0, 8, (n,), generator=torch.Generator().manual_seed(0))
    colour = torch.randint(0, 6, (n,), generator=torch.Generator().manual_seed(1))
    c, o = W.coarsen(colour, shape, 0.15, 0.1, 0.1, torch.Generator().manual_seed(2))
    null = o == W.NULL_OBJECT
    assert ((c == W.NULL_COLOUR) == null).all() and abs(null.float().mean() - 0.1) < 0.01
    kept = ~null
    fam = (o >= 8) & (o <= 10) & kept
    assert abs(fam.float().sum() / kept.sum() - 0.15) < 0.01
    assert abs(((o == W.object_id("object")) & kept).float().sum() / kept.sum() - 0.1) < 0.01
    # a family token is always the shape's own family
    fam_of = torch.tensor([W.object_id(W.FAMILY[s]) for s in W.SHAPES])
    assert (o[fam] == fam_of[shape[fam]]).all()


def _fit_denoiser(model, x, cond, steps: int, lr: float) -> list:
    """Full-batch DDPM training on a fixed set; the per-step losses."""
    import torch

    from repro.studies.r2f import diffusion as D

    sched, _ = D.schedulers(50)
    opt = torch.optim.Adam(model.parameters(), lr)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        loss = D.ddpm_loss(model, x, cond, sched, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_film_denoiser_learns_to_denoise_a_small_set():
    import torch

    from repro.models.film_denoiser import FiLMDenoiser
    from repro.studies.r2f import world as W

    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = W.dataset(W.counts_table(2, {}), 8, 0)  # 96 renders at 8x8
    model = FiLMDenoiser(6, len(W.OBJECTS), channels=16, blocks=1, emb=16)
    cond = (data.colour, data.shape)
    losses = _fit_denoiser(model, data.x, cond, steps=150, lr=3e-3)
    assert model(data.x, torch.tensor(3), cond).shape == data.x.shape
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:5])


def test_guidance_picks_the_planned_condition_at_each_step():
    import torch

    from repro.studies.r2f import guidance as G

    calls = []

    def model(x, t, c):  # records which condition each step asked for; eps = the condition's value
        calls.append(c)
        return torch.full_like(x, float(c))

    null, seq = 0, [1, 2]  # p_0 = frequent (1), p_K = prompt (2)
    x = torch.zeros(1)
    eps = G.predictor(model, "r2f", seq, [4], null, 1.0, 10)
    got = [float(eps(x, torch.tensor(0), i)) for i in range(10)]
    assert got == [1, 2, 1, 2, 2, 2, 2, 2, 2, 2]  # w = 1: the conditional eps itself
    eps = G.predictor(model, "vanilla", seq, [4], null, 3.0, 10)
    assert float(eps(x, torch.tensor(0), 0)) == 6.0  # 0 + 3 (2 - 0)
    eps = G.predictor(model, "interpolation", seq, [4], null, 1.0, 10, alpha=0.25)
    assert float(eps(x, torch.tensor(0), 0)) == 0.25 * 1 + 0.75 * 2 and float(eps(x, torch.tensor(0), 4)) == 2
    eps = G.predictor(model, "composable", seq, [4], null, 1.0, 10)
    assert float(eps(x, torch.tensor(0), 0)) == 3.0 and float(eps(x, torch.tensor(0), 5)) == 2.0
    assert float(G.predictor(model, "frequent", seq, [4], null, 1.0, 10)(x, torch.tensor(0), 7)) == 1.0
    # no rare concept: every method is vanilla
    assert float(G.predictor(model, "r2f", [2], [], null, 1.0, 10)(x, torch.tensor(0), 0)) == 2.0
    with pytest.raises(ValueError, match="guidance method"):
        G.predictor(model, "p2p", seq, [4], null, 1.0, 10)


def test_judge_scores_held_out_balanced_renders_well_and_aggregates_like_rarebench():
    import torch

    from repro.core.shapes import COLOURS, SHAPES
    from repro.studies.r2f import evaluator as E
    from repro.studies.r2f import world as W

    torch.set_num_threads(1)
    train = W.dataset(W.counts_table(24, {}), 16, 0)
    test = W.dataset(W.counts_table(4, {}), 16, 1)  # fresh renders
    judge = E.train_judge(train.x, train.colour, train.shape, len(COLOURS), len(SHAPES), 500, 64, 3e-3, 0)
    c_ok, s_ok, score = E.judge_images(judge, test.x, test.colour, test.shape)
    assert c_ok.float().mean() > 0.9 and s_ok.float().mean() > 0.75
    assert E.alignment([5, 5, 1, 3]) == pytest.approx((4 + 4 + 0 + 2) / 4 / 4 * 100)
    assert E.alignment([1, 1]) == 0 and E.alignment([5]) == 100


def test_toy_pipeline_runs_end_to_end_at_toy_size():
    import torch

    from repro.studies.r2f import experiments as X

    torch.set_num_threads(1)
    world = dict(size=8, render=dict(noise=0.03, shift=0.2, radius=[0.5, 0.75]), n_frequent=2,
                 rare={"red circle": 0, "blue square": 1}, ladder={"green triangle": 3})
    dcfg = dict(kind="film", model=dict(channels=8, blocks=1, emb=16), n_train_steps=20, steps=3, batch=8, lr=1e-3,
                ema=0.9, dropout=dict(family=0.15, object=0.1, uncond=0.1))
    scfg = dict(sample_steps=4, guidance=3.0, alpha=0.3, n_samples=3, methods=["vanilla", "r2f", "frequent"],
                stop_fracs=[0.5], frequent_pairs=["red ring"], examples=2)
    planner = dict(n_rare=2, level=2, substitute="shape_keeping", ablations=["family"])
    model, losses = X.train_denoiser(world, dcfg, 0)
    assert len(losses) == 3
    plans = X.plans(world, planner)
    assert plans[("red", "circle")].pairs == (("a blue circle", "a red circle"),)  # same shape, another colour
    assert X.plans(world, planner, substitute="family")[("red", "circle")].pairs == (("a red round", "a red circle"),)
    assert not plans[("red", "ring")].is_rare and not plans[("green", "triangle")].is_rare
    forced = X.plans(world, planner, force=True)[("red", "ring")]
    assert forced.is_rare and forced.sequence() == ["a blue ring", "a red ring"]
    judge, acc = X.train_judge(world, dict(per_pair=2, held_out_per_pair=1, steps=2, batch=8, lr=1e-3))
    assert acc["overlap"] == 0 and acc["n_test"] == 48
    df, examples = X.sample_table(model, judge, world, planner, scfg, 20, 0)
    # rare pairs x (3 methods + 1 fixed stop + R2F and frequent-only with the family substitute)
    # + curve pairs (ladder + frequent) x (vanilla, forced R2F)
    assert len(df) == 2 * 6 + 2 * 2 and df.alignment.between(0, 100).all()
    assert set(df[df.group == "curve"].method) == {"vanilla", X.FORCED}
    abl = df[df.method.isin(["r2f_family", "frequent_family"])]
    assert len(abl) == 4 and set(abl.substitute_mode) == {"family"} and set(abl.substitute) == {"a red round",
                                                                                              "a blue angular"}
    assert set(df[df.method == "r2f"].substitute) == {"a blue circle", "a red square"}
    assert set(df[~df.method.str.endswith("_family")].substitute_mode) == {"shape_keeping"}
    img = examples["r2f||red circle"]
    assert img.shape == (2, 3, 8, 8) and img.dtype == torch.uint8
    assert examples["r2f_family||red circle"].shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="ablations names the planner's own substitute"):
        X.sample_table(model, judge, world, dict(planner, ablations=["shape_keeping"]), scfg, 20, 0)
    # the same pair draws the same noise whatever else is in the batch: a method's samples are paired across methods
    a = X.sample_group(model, [plans[("red", "circle")]], "vanilla", scfg, 20, 8, 0)
    both = X.sample_group(model, [plans[("blue", "square")], plans[("red", "circle")]], "vanilla", scfg, 20, 8, 0)
    assert torch.allclose(a, both[3:], atol=1e-5)


def test_text_unet_denoiser_learns_and_takes_the_same_conditions():
    import torch

    from repro.studies.r2f import experiments as X
    from repro.studies.r2f import world as W

    torch.manual_seed(0)
    torch.set_num_threads(1)
    dcfg = dict(kind="unet", size=8, model=dict(channels=[16, 32], layers_per_block=1, text_dim=32, text_layers=1,
                                                 heads=2, attention_head_dim=8))
    model = X.build_denoiser(dcfg)
    data = W.dataset(W.counts_table(1, {}), 8, 0)
    cond = (data.colour, data.shape)
    losses = _fit_denoiser(model, data.x, cond, steps=60, lr=2e-3)
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:3])
    # the conditioning reaches the output through cross-attention: two prompts, two predictions
    x, t = data.x[:2], torch.tensor(10)
    a = model(x, t, (torch.tensor([0, 0]), torch.tensor([0, 0])))
    b = model(x, t, (torch.tensor([1, 1]), torch.tensor([5, 5])))
    assert not torch.allclose(a, b)


WOBBLE = (1.5, -1.0, 0.8, -1.2)  # per-seed offsets: a spread between seeds (denoisers) that pairs cannot average away


def _gates():
    from repro.core.config import load_study

    return load_study("r2f", "small")["gates"]  # the thresholds the pipeline uses


def _thresholds():
    from repro.core.config import load_study

    return load_study("r2f", "small")["claims"]  # the rules' thresholds the pipeline uses


def _samples_table(r2f_gain=10.0, forced_gain=0.0, shape_slope=0.3, colour_change=-0.04, vanilla_rise=30.0,
                   gain_wobble=0.0, slope_wobble=0.0, rise_wobble=0.0, frequent_shape=0.8, family_gain=-5.0):
    """A samples table shaped like the pipeline's, with the effects set by hand (4 seeds). `*_wobble` adds a
    per-seed offset (WOBBLE x the value) to R2F's gain, to both sweep slopes, or to vanilla's rise with the count;
    `frequent_shape`: vanilla's shape accuracy on the most frequent pair (the denoiser's gate). The sweep's
    defaults are the shape-keeping substitute's trade-off: shape rises with the stop step, colour falls.
    `family_gain`: R2F with the family substitute (the ablation) minus vanilla."""
    import pandas as pd

    rows = []
    rare = {"red circle": 0, "blue ring": 2}
    curve = {"purple circle": 8, "cyan square": 128, "red square": 250}
    for seed in range(4):
        jitter, w = 0.1 * seed, WOBBLE[seed]
        for pair, n in rare.items():
            base = 40.0 + jitter
            for m, a in (("vanilla", base), ("r2f", base + r2f_gain + gain_wobble * w), ("frequent", 10.0),
                         ("r2f_family", base + family_gain), ("frequent_family", 5.0)):
                rows.append(dict(group="rare", pair=pair, count=n, planned_rare=True, n_rare=20, method=m,
                                 stop_frac=None, colour_acc=0.9, shape_acc=0.1 if m == "frequent_family" else 0.5,
                                 alignment=a, seed=seed))
            for f in (0.1, 0.4, 0.8):
                rows.append(dict(group="rare", pair=pair, count=n, planned_rare=True, n_rare=20, method="fixed",
                                 stop_frac=f, colour_acc=0.9 + (colour_change / 0.7 + slope_wobble * w) * f,
                                 shape_acc=0.6 + (shape_slope + slope_wobble * w) * f, alignment=base, seed=seed))
        for pair, n in curve.items():
            v = 40.0 + (vanilla_rise + rise_wobble * w) * (n > 8) + jitter
            gain = (r2f_gain if n < 20 else forced_gain) + gain_wobble * w
            shape = frequent_shape if n == max(curve.values()) else 0.8
            for m, a in (("vanilla", v), ("r2f_forced", v + gain)):
                rows.append(dict(group="curve", pair=pair, count=n, planned_rare=n < 20, n_rare=20, method=m,
                                 stop_frac=None, colour_acc=1.0, shape_acc=shape, alignment=a, seed=seed))
    return pd.DataFrame(rows)


def _theory_table(rare_only=15.0, best=3.0, alt_best=4.0, best_wobble=0.0, frequent_fit=0.4):
    import pandas as pd

    from repro.studies.r2f import theory

    alphas = [0.0, 0.5, 0.85, 1.0]
    rows = [dict(method="closed_form", alpha=a, stop_frac=np.nan, w2=w, seed=-1)
            for a, w in zip(alphas, theory.w2_curve(alphas))]
    for seed in range(3):
        for a, w in ((0.0, 9.0), (0.5, best + best_wobble * WOBBLE[seed]), (1.0, rare_only)):
            rows.append(dict(method="interpolation", alpha=a, stop_frac=np.nan, w2=w + 0.1 * seed, seed=seed))
        rows.append(dict(method="frequent_fit", alpha=0.0, stop_frac=np.nan, w2=frequent_fit, seed=seed))
        for f, w in ((0.0, rare_only), (0.2, alt_best)):
            rows.append(dict(method="alternating", alpha=np.nan, stop_frac=f, w2=w + 0.1 * seed, seed=seed))
    return pd.DataFrame(rows)


JUDGE = dict(colour_acc=0.99, shape_acc=0.98, overlap=0, n_train=10, n_test=5)


def _claims(theory=None, samples=None, judge=None):
    from repro.studies.r2f import claims as C

    return C.claims(_theory_table() if theory is None else theory, _samples_table() if samples is None else samples,
                    judge or JUDGE, _gates(), _thresholds())


def _verdicts(theory=None, samples=None, judge=None):
    return {c.id: c.holds for c in _claims(theory, samples, judge)}


def _records(theory=None, samples=None, judge=None):
    from repro.core.claims import records

    return {r["id"]: r for r in records(_claims(theory, samples, judge), "small")}


def test_every_claim_holds_on_a_table_where_the_paper_is_right():
    assert all(_verdicts().values()), _verdicts()
    recs = _records()
    assert all(r["holds"] and r["not_measured"] is None for r in recs.values())
    assert {g["model"].split(" (")[0] for r in recs.values() for g in r["gates"]} == {
        "the toy judge", "the denoiser", "the learned 2-D eps-MLP"}


@pytest.mark.parametrize("kwargs, claim", [
    (dict(samples=dict(r2f_gain=-5.0)), "r2f_beats_vanilla_on_rare"),
    (dict(samples=dict(r2f_gain=0.0)), "r2f_beats_vanilla_on_rare"),
    (dict(samples=dict(forced_gain=-12.0)), "no_harm_on_frequent"),
    (dict(samples=dict(shape_slope=-0.3)), "stop_step_trade_off"),  # the kept shape falls with the stop step
    (dict(samples=dict(colour_change=0.2)), "stop_step_trade_off"),  # the swapped colour rises
    (dict(samples=dict(colour_change=0.0)), "stop_step_trade_off"),  # colour at its ceiling: one side only
    (dict(samples=dict(shape_slope=0.0)), "stop_step_trade_off"),  # shape flat: one side only
    (dict(samples=dict(vanilla_rise=-10.0)), "r2f_flattens_rarity_curve"),
    (dict(samples=dict(r2f_gain=0.0, forced_gain=5.0)), "r2f_flattens_rarity_curve"),
    (dict(theory=dict(best=20.0)), "learned_interpolation_rescues_rare"),
    (dict(theory=dict(alt_best=16.0)), "learned_interpolation_rescues_rare"),
])
def test_each_claim_fails_where_the_paper_is_wrong(kwargs, claim):
    theory = _theory_table(**kwargs.get("theory", {}))
    samples = _samples_table(**kwargs.get("samples", {}))
    v = _verdicts(theory, samples)
    assert v[claim] is False
    assert v["theory_w2_u_shape"] and v["planner_restraint"]


@pytest.mark.parametrize("kwargs, claim, mean_of", [
    # R2F ahead on average (+1.1) but the seeds disagree: within the two-level interval
    (dict(samples=dict(r2f_gain=1.0, gain_wobble=6.0)), "r2f_beats_vanilla_on_rare", ("mean_diff",)),
    # forced R2F costs 1.9 on average (inside the 5-point tolerance) but its interval reaches far below it
    (dict(samples=dict(forced_gain=-2.0, gain_wobble=6.0)), "no_harm_on_frequent", None),
    # the swapped colour falls on average across the sweep, but not beyond the seeds' spread
    (dict(samples=dict(colour_change=-0.01, slope_wobble=0.05)), "stop_step_trade_off", ("colour_slope", "-mean")),
    # the kept shape rises on average, but not beyond the seeds' spread
    (dict(samples=dict(shape_slope=0.02, slope_wobble=0.1)), "stop_step_trade_off", ("shape_slope", "mean")),
    # vanilla's rarity gap is positive on average, within the seeds' spread
    (dict(samples=dict(vanilla_rise=1.0, rise_wobble=5.0)), "r2f_flattens_rarity_curve", ("vanilla_gap", "mean")),
    # the interior alpha beats frequent-only on average, within the spread of the three models
    (dict(theory=dict(best=7.5, best_wobble=3.0)), "learned_interpolation_rescues_rare",
     ("frequent_minus_best", "mean")),
])
def test_an_effect_within_noise_does_not_hold(kwargs, claim, mean_of):
    found = {c.id: c for c in _claims(_theory_table(**kwargs.get("theory", {})),
                                      _samples_table(**kwargs.get("samples", {})))}
    assert found[claim].holds is False
    if mean_of:  # the effect is in the claimed direction on average: a bare comparison of means would hold
        value, sign = found[claim].measured, 1
        for key in mean_of:
            sign = -1 if key.startswith("-") else sign
            value = value[key.lstrip("-")]
        assert sign * value > 0


def test_no_harm_uses_the_intervals_lower_end():
    tolerance = _thresholds()["no_harm_tolerance"]
    assert _verdicts(samples=_samples_table(forced_gain=-2.0))["no_harm_on_frequent"]  # -2, no spread
    m = {c.id: c for c in _claims(samples=_samples_table(forced_gain=-2.0, gain_wobble=6.0))}["no_harm_on_frequent"]
    assert m.measured["mean_diff"] > -tolerance > m.measured["ci_lo"]
    assert m.measured["tolerance"] == tolerance


def test_rule_thresholds_come_from_the_config():
    from repro.studies.r2f import claims as C

    t, s = _theory_table(), _samples_table(forced_gain=-2.0)
    strict = C.claims(t, s, JUDGE, _gates(), dict(_thresholds(), no_harm_tolerance=1.0))
    assert {c.id: c.holds for c in strict}["no_harm_on_frequent"] is False  # -2 is past a 1-point tolerance
    loose = C.claims(t, s, JUDGE, _gates(), dict(_thresholds(), theory_ratio=0.1))
    assert {c.id: c.holds for c in loose}["theory_w2_u_shape"] is False  # 2.17 is not below 0.1 x 19.0
    with pytest.raises(KeyError, match="claims.no_harm_tolerance"):
        C.claims(t, s, JUDGE, _gates(), {"theory_ratio": 0.2})


def test_trade_off_direction_follows_the_substitute():
    from repro.studies.r2f import claims as C

    t = _theory_table()
    # the family substitute keeps the colour and swaps the shape: colour must rise and shape fall
    old = _samples_table(shape_slope=-0.5, colour_change=0.04)
    fam = {c.id: c for c in C.claims(t, old, JUDGE, _gates(), _thresholds(), substitute="family")}
    assert fam["stop_step_trade_off"].holds and fam["stop_step_trade_off"].measured["kept"] == "colour"
    assert _verdicts(samples=old)["stop_step_trade_off"] is False  # the same sweep fails the shape-keeping rule
    default = {c.id: c for c in _claims()}["stop_step_trade_off"]
    assert default.holds and default.measured["kept"] == "shape" and default.measured["swapped"] == "colour"
    fam = {c.id: c.holds for c in C.claims(t, _samples_table(), JUDGE, _gates(), _thresholds(), substitute="family")}
    assert fam["stop_step_trade_off"] is False
    with pytest.raises(ValueError, match="substitute"):
        C.claims(t, old, JUDGE, _gates(), _thresholds(), substitute="sibling")


def test_the_family_ablation_is_reported_not_judged():
    recs = _records(samples=_samples_table(family_gain=-5.0))
    assert "r2f_family" not in recs and all(r["kind"] != "paper" or "family" not in r["id"] for r in recs.values())
    abl = recs["r2f_beats_vanilla_on_rare"]["measured"]["ablations"]["family"]
    assert abl["r2f_minus_vanilla"]["mean_diff"] == pytest.approx(-5.0)
    assert abl["r2f_minus_vanilla"]["ci_hi"] < 0 < abl["default_r2f_minus_this"]["ci_lo"]
    assert abl["frequent_only_shape_acc"] == {"default": 0.5, "family": pytest.approx(0.1)}
    # the ablation does not decide the verdict: a family substitute that helps or hurts leaves it unchanged
    assert recs["r2f_beats_vanilla_on_rare"]["holds"]
    assert _verdicts(samples=_samples_table(family_gain=+20.0))["r2f_beats_vanilla_on_rare"]
    # without ablation rows there is nothing to report
    s = _samples_table()
    plain = {c.id: c for c in _claims(samples=s[~s.method.str.endswith("_family")])}
    assert "ablations" not in plain["r2f_beats_vanilla_on_rare"].measured


def test_intervals_resample_seeds_not_cells():
    m = {c.id: c for c in _claims(samples=_samples_table(r2f_gain=1.0, gain_wobble=6.0))}["r2f_beats_vanilla_on_rare"]
    assert m.measured["n_seeds"] == 4 and m.measured["n_cells"] == 8
    assert m.measured["per_seed_effect"]["unit"] == "seed" and m.measured["per_seed_effect"]["n"] == 4
    assert m.measured["ci_lo"] < 0 < m.measured["ci_hi"]


def test_gates_make_claims_on_untrained_models_not_measured():
    image = ["r2f_beats_vanilla_on_rare", "no_harm_on_frequent", "stop_step_trade_off", "r2f_flattens_rarity_curve"]
    # a judge at chance: every image claim is unmeasurable, and the sanity check says why
    recs = _records(judge=dict(colour_acc=0.17, shape_acc=0.13, overlap=0))
    for cid in image:
        assert recs[cid]["holds"] is None and "the toy judge did not learn" in recs[cid]["not_measured"]
    assert recs["judge_accuracy"]["holds"] is False and recs["learned_interpolation_rescues_rare"]["holds"]
    # denoisers that draw their most frequent pair's shape at chance (1/8)
    recs = _records(samples=_samples_table(frequent_shape=0.125))
    for cid in image:
        assert recs[cid]["holds"] is None and "the denoiser (4 seeds, worst) did not learn" in recs[cid]["not_measured"]
    assert recs["theory_w2_u_shape"]["holds"] and recs["planner_restraint"]["holds"]
    # a 2-D model whose frequent concept is 10 units off its truth (it samples the target instead)
    recs = _records(theory=_theory_table(frequent_fit=10.0))
    assert recs["learned_interpolation_rescues_rare"]["holds"] is None
    why = recs["learned_interpolation_rescues_rare"]["not_measured"]
    assert "the learned 2-D eps-MLP (3 seeds, worst) did not learn" in why
    assert recs["r2f_beats_vanilla_on_rare"]["holds"]
    # a theory table without the competence row cannot pass its gate
    t = _theory_table()
    recs = _records(theory=t[t.method != "frequent_fit"])
    assert recs["learned_interpolation_rescues_rare"]["not_measured"]


def test_theory_claim_fails_when_interpolation_does_not_help_and_sanity_checks_fail():
    from repro.studies.r2f import claims as C

    t = _theory_table()
    cf = t.method == "closed_form"
    t.loc[cf, "w2"] = [10.0, 12.0, 15.0, 19.0]  # monotone: the minimum sits at alpha = 0
    s = _samples_table()
    s.loc[s.pair == "cyan square", "planned_rare"] = True  # 128 renders flagged rare
    found = {c.id: c.holds for c in C.claims(t, s, dict(colour_acc=0.99, shape_acc=0.5, overlap=0), _gates(),
                                             _thresholds())}
    assert found["theory_w2_u_shape"] is False
    assert found["planner_restraint"] is False and found["judge_accuracy"] is False
    nan = _samples_table()
    nan.loc[nan.method == "r2f", "alignment"] = np.nan
    assert _verdicts(samples=nan)["r2f_beats_vanilla_on_rare"] is False


def test_real_path_reads_cached_plans_and_switches_prompts_without_weights(tmp_path):
    import json

    import torch

    from repro.studies.r2f import real

    cached = {"A hairy frog": {"visual_detail_level": "5", "r2f_prompt": [["A hairy animal", "A hairy frog"]]},
              "a running dog": {"visual_detail_level": "0", "r2f_prompt": [["a running dog", "a running dog"]]},
              "a hairy shark and two spotted clams": {
                  "visual_detail_level": ["5", "3"],
                  "r2f_prompt": [["a hairy fish and two spotted shellfish", "a hairy shark and two spotted shellfish",
                                  "a hairy shark and two spotted clams"]]}}
    plans = real.cached_plans("\n".join(json.dumps({k: v}) for k, v in cached.items()))
    frog = plans["A hairy frog"]
    assert frog.levels == (5,) and frog.sequence() == ["A hairy animal", "A hairy frog"]
    assert not plans["a running dog"].is_rare
    multi = plans["a hairy shark and two spotted clams"]
    # levels sorted with their concepts: "clams" (level 3) is restored first, at SD3's step 20, "shark" at 40
    assert multi.levels == (3, 5) and multi.pairs == (("shellfish", "clams"), ("fish", "shark"))
    assert real.sd3_stops(multi, 50) == [20, 40]
    assert multi.sequence() == ["a hairy fish and two spotted shellfish", "a hairy fish and two spotted clams",
                                "a hairy shark and two spotted clams"]
    # the callback installs, after step i, the embeddings step i + 1 uses (negative half first)
    sched = [0, 2, 0, 2, 2]
    emb = [torch.full((1, 2), float(k)) for k in range(3)]
    switch = real.PromptSwitch(sched, emb, emb, torch.full((1, 2), -1.0), torch.full((1, 2), -1.0))
    assert float(switch.first()[0][0, 0]) == 0
    out = switch(None, 0, None, {})
    assert out["prompt_embeds"][:, 0].tolist() == [-1.0, 2.0]
    assert switch(None, 1, None, {})["prompt_embeds"][1, 0] == 0 and switch(None, 4, None, {"x": 1}) == {"x": 1}
    with pytest.raises(FileNotFoundError, match="no Stable Diffusion 3 weights"):
        real.load_sd3(tmp_path)
