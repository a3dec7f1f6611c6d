"""r2f's toy experiments: train the conditional denoiser on the long-tailed world and the judge on balanced
renders, plan every evaluated pair with the rule-based planner (through the LLM's text format), sample each
pair with each guidance method, judge.

Pairs evaluated: the rare pairs (every method and the fixed stop-step sweep), the ladder pairs between rare and
frequent and a few frequent pairs (vanilla, and R2F forced on with the planner's substitute, for the rarity
curve and the no-harm check). All methods draw the same initial noise for a pair, so their scores are paired.

Ablations of the planner (config `planner.ablations`, e.g. the earlier `family` substitute): R2F and
frequent-only on the rare pairs again with that substitute, as methods `r2f_<mode>` and `frequent_<mode>`.
"""

from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm

from repro.core.overlap import exact_overlap
from repro.core.shapes import COLOURS, SHAPES
from repro.studies.r2f import diffusion as D
from repro.studies.r2f import evaluator as E
from repro.studies.r2f import guidance as G
from repro.studies.r2f import planner as P
from repro.studies.r2f import world as W

FORCED = "r2f_forced"  # R2F with the planner's substitute even where the pair is not rare


def style(world: dict) -> dict:
    """The renderer's settings for this world (the denoiser and the judge see the same renders)."""
    return {k: tuple(v) if k == "radius" else v for k, v in world.get("render", {}).items()}


def table(world: dict) -> dict:
    """Training counts n(colour, shape): rare and ladder pairs as configured, every other pair n_frequent."""
    return W.counts_table(world["n_frequent"], {**world["rare"], **world.get("ladder", {})})


def build_denoiser(dcfg: dict):
    if dcfg["kind"] == "film":
        from repro.models.film_denoiser import FiLMDenoiser

        return FiLMDenoiser(len(COLOURS), len(W.OBJECTS), **dcfg["model"])
    from repro.models.text_unet import TextUNet

    return TextUNet(len(COLOURS), len(W.OBJECTS), size=dcfg["size"], **dcfg["model"])


def train_denoiser(world: dict, dcfg: dict, seed: int, device="cpu", desc=None):
    """dcfg: kind, model, n_train_steps, steps, batch, lr, ema, dropout {family, object, null}.
    Returns (the EMA weights' model, the one samples are drawn from; per-step losses)."""
    torch.manual_seed(seed)
    data = W.dataset(table(world), world["size"], seed, **style(world))
    x, colour, shape = data.x.to(device), data.colour, data.shape
    model = build_denoiser({**dcfg, "size": world["size"]}).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=dcfg["lr"], weight_decay=0.0)
    avg = torch.optim.swa_utils.get_ema_multi_avg_fn(dcfg["ema"])
    ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=avg)
    sched, _ = D.schedulers(dcfg["n_train_steps"])
    g, dr = torch.Generator().manual_seed(seed + 1), dcfg["dropout"]
    amp = device != "cpu" and str(device).startswith("cuda")
    losses = []
    for _ in tqdm(range(dcfg["steps"]), desc=desc or "r2f/denoiser", mininterval=5):
        idx = torch.randint(0, len(x), (dcfg["batch"],), generator=g)
        c, o = W.coarsen(colour[idx], shape[idx], dr["family"], dr["object"], dr["uncond"], g)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = D.ddpm_loss(model, x[idx.to(device)], (c.to(device), o.to(device)), sched, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update_parameters(model)
        losses.append(loss.item())
    return ema.module.eval(), losses


def train_judge(world: dict, jcfg: dict, seed: int = 0, device="cpu"):
    """The judge on balanced renders of all 48 pairs; scored on fresh held-out renders before it judges
    anything. Returns (judge, {colour_acc, shape_acc, overlap, n_train, n_test})."""
    train = W.dataset(W.counts_table(jcfg["per_pair"], {}), world["size"], 10_000 + seed, **style(world))
    test = W.dataset(W.counts_table(jcfg["held_out_per_pair"], {}), world["size"], 20_000 + seed, **style(world))
    judge = E.train_judge(train.x.to(device), train.colour.to(device), train.shape.to(device), len(COLOURS),
                          len(SHAPES), jcfg["steps"], jcfg["batch"], jcfg["lr"], seed)
    c_ok, s_ok, _ = E.judge_images(judge, test.x.to(device), test.colour.to(device), test.shape.to(device))
    return judge, {"colour_acc": float(c_ok.float().mean()), "shape_acc": float(s_ok.float().mean()),
                   "overlap": exact_overlap(train.x, test.x), "n_train": len(train.x), "n_test": len(test.x)}


def plans(world: dict, planner: dict, force: bool = False, substitute: str | None = None) -> dict:
    """Plan every pair through the text format, as an LLM answer would be parsed; `force`: plan every pair as
    rare (the rarity curve's R2F on pairs the planner would leave alone); `substitute`: the substitute mode
    (default: the config's `planner.substitute`)."""
    t = table(world)
    counts = W.concept_counts(t)
    mode = substitute or planner.get("substitute", "shape_keeping")
    return {(c, s): P.parse(P.render(p), p.prompt)
            for (c, s) in t for p in [P.rule_based(c, s, counts, W.FAMILY, planner["level"], planner["n_rare"], force,
                                                   substitute=mode, colours=W.COLOUR_NAMES)]}


def tokens(prompt: str, n: int, device="cpu"):
    c, o = W.parse_prompt(prompt)
    return torch.full((n,), c, device=device), torch.full((n,), o, device=device)


def _cat(conds):
    return tuple(torch.cat(parts) for parts in zip(*conds))


@torch.no_grad()
def sample_group(model, group: list, method: str, scfg: dict, n_train_steps: int, size: int, seed: int,
                 stop_frac=None, device="cpu") -> torch.Tensor:
    """Sample n_samples of every plan in `group` (plans with the same sequence length and stop steps) in one
    batch; the noise for the k-th plan depends only on (seed, its pair), so every method sees the same noise."""
    n, steps = scfg["n_samples"], scfg["sample_steps"]
    k = len(group[0].sequence())
    seq = [_cat([tokens(p.sequence()[j], n, device) for p in group]) for j in range(k)]
    stops = P.stop_steps(group[0], steps) if stop_frac is None else [round(stop_frac * steps)] * len(group[0].pairs)
    null = (torch.full((n * len(group),), W.NULL_COLOUR, device=device),
            torch.full((n * len(group),), W.NULL_OBJECT, device=device))
    eps = G.predictor(model, method, seq, stops, null, scfg["guidance"], steps, alpha=scfg["alpha"])
    _, sched = D.schedulers(n_train_steps)
    noise = torch.cat([torch.randn((n, 3, size, size), generator=torch.Generator().manual_seed(_pair_seed(seed, p)))
                       for p in group])
    x = D.sample(eps, noise.shape, sched, steps, None, device, x_T=noise.to(device))
    return x.clamp(-1, 1).cpu()  # the world's range, which the judge reads too


def _pair_seed(seed: int, plan: P.Plan) -> int:
    """A distinct noise stream per (seed, pair)."""
    c, o = W.parse_prompt(plan.prompt)
    return seed * 1_000 + c * len(W.OBJECTS) + o


def runs(scfg: dict, ablations=()) -> list:
    """(group, method label, guidance method, stop fraction, plan book) for every sampling run; a plan book is
    "auto", "forced" or an ablation's substitute mode."""
    out = [("rare", m, m, None, "auto") for m in scfg["methods"]]
    out += [("rare", "fixed", "fixed", f, "auto") for f in scfg["stop_fracs"]]
    out += [("curve", "vanilla", "vanilla", None, "auto"), ("curve", FORCED, "r2f", None, "forced")]
    for mode in ablations:
        out += [("rare", f"{m}_{mode}", m, None, mode) for m in ("r2f", "frequent")]
    return out


def sample_table(model, judge, world: dict, planner: dict, scfg: dict, n_train_steps: int, seed: int,
                 device="cpu", desc=None):
    """One row per (pair, method or fixed stop): colour and shape accuracy and the alignment score, with the
    pair's training count; and up to `examples` images per (method, pair) for the figures."""
    t = table(world)
    mode = planner.get("substitute", "shape_keeping")
    if mode in planner.get("ablations", []):
        raise ValueError(f"r2f planner.ablations names the planner's own substitute {mode!r}")
    books = {"auto": plans(world, planner), "forced": plans(world, planner, force=True)}
    for m in planner.get("ablations", []):
        books[m] = plans(world, planner, substitute=m)
    auto = books["auto"]
    rare = [tuple(p.split()) for p in world["rare"]]
    curve = [tuple(p.split()) for p in list(world.get("ladder", {})) + list(scfg["frequent_pairs"])]
    unknown = [p for p in curve if (p[0], p[1]) not in t]
    if unknown:
        raise ValueError(f"r2f sampling.frequent_pairs names unknown pairs: {unknown}")
    rows, examples = [], {}
    for group, method, base, frac, kind in tqdm(runs(scfg, planner.get("ablations", [])),
                                                desc=desc or "r2f/sample", mininterval=5):
        pairs = rare if group == "rare" else curve
        book = books[kind]
        by_shape = {}
        for pair in pairs:  # batch plans that share a schedule
            p = book[pair]
            by_shape.setdefault((len(p.sequence()), p.levels), []).append(pair)
        for members in by_shape.values():
            x = sample_group(model, [book[p] for p in members], base, scfg, n_train_steps, world["size"], seed,
                             frac, device)
            n = scfg["n_samples"]
            for j, (c, s) in enumerate(members):
                xi = x[j * n:(j + 1) * n]
                ci = torch.full((n,), list(COLOURS).index(c), device=device)
                si = torch.full((n,), SHAPES.index(s), device=device)
                c_ok, s_ok, score = E.judge_images(judge, xi.to(device), ci, si)
                rows.append({"group": group, "pair": f"{c} {s}", "count": t[(c, s)], "rare": book[(c, s)].is_rare,
                             "planned_rare": auto[(c, s)].is_rare,
                             "n_rare": planner["n_rare"], "method": method, "stop_frac": frac,
                             "substitute": book[(c, s)].sequence()[0],
                             "substitute_mode": kind if kind in P.SUBSTITUTES else mode,
                             "colour_acc": float(c_ok.float().mean()),
                             "shape_acc": float(s_ok.float().mean()), "alignment": E.alignment(score.cpu()),
                             "n": n, "seed": seed})
                key = f"{method}|{'' if frac is None else frac}|{c} {s}"
                examples[key] = ((xi[: scfg["examples"]] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pd.DataFrame(rows), examples


def load_denoiser(path, device="cpu"):
    """(EMA denoiser, its config) from a checkpoint written by the train rule."""
    from repro.core.io import load_checkpoint

    state, dcfg = load_checkpoint(path, device)
    model = build_denoiser(dcfg).to(device)
    model.load_state_dict(state)
    return model.eval(), dcfg


def load_judge(path, device="cpu"):
    from repro.core.io import load_checkpoint

    state, _ = load_checkpoint(path, device)
    judge = E.Judge(len(COLOURS), len(SHAPES)).to(device)
    judge.load_state_dict(state)
    return judge.eval()


def theory_table(tcfg: dict, seeds: list, device="cpu") -> pd.DataFrame:
    """The closed-form W2(alpha) curve, then the learned 2-D counterpart for every seed."""
    import numpy as np

    from repro.studies.r2f import theory, toy2d

    alphas = list(tcfg["alphas"])
    rows = [pd.DataFrame({"method": "closed_form", "alpha": alphas, "stop_frac": np.nan,
                          "w2": theory.w2_curve(alphas), "seed": -1})]
    for seed in tqdm(seeds, desc="r2f/theory", mininterval=5):
        model = toy2d.train(tcfg["learned"], seed, device)
        rows.append(toy2d.evaluate(model, tcfg["learned"], seed, device))
    return pd.concat(rows, ignore_index=True)
