"""Claims: what a study says the paper found, what we measured, and whether it held at this scale.

A study's claims.py builds `Claim`s whose `holds` is *computed* from the measured values by the rule the
claim states. At smoke scale the numbers are kept but the verdict is null: smoke runs are too small to mean
anything. `results/REPORT.md` gathers every study's claims.json into one table.

Three guards stand between a measurement and a verdict (docs/design.md, "Verdicts"):
- `Gate`: the competence a claim presupposes (held-out accuracy, a loss past a plateau, a fine-tune that
  improved its objective). A failed gate makes the verdict "not measured: <model> did not learn <skill> (<n>)",
  never holds or fails: a model that never learned proves nothing either way.
- `effect` / `clearly_above` / `no_worse_than`: "better" needs the whole interval (mean +- 2 standard errors
  over independent units, or a bootstrap over them) above zero; "no worse" needs its lower end above the
  tolerance. No rule compares two noisy numbers with a bare `<`.
- seed sets (`repro.core.seeds`): the bootstrap's seed moves with `seed_set` like every other seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from repro.core import seeds as _seeds

SCALES = ("smoke", "small", "paper")
# What a claim is: one of the paper's own findings; this project's extension of the paper (a measurement
# the paper does not make); or a sanity check of our own code (e.g. a construction has the size its
# formula says), which is reported apart and never counted as reproducing the paper.
KINDS = {"paper": "The paper's claims", "extension": "This project's extensions (not claims of the paper)",
         "sanity": "Sanity checks of this project's code (not claims of the paper)"}


@dataclass
class Gate:
    """A competence a claim presupposes, measured in the same run: `model` reaches `threshold` on `skill`
    (`value >= threshold`, or `<=` for a loss when `higher` is False). Thresholds come from the study config."""

    model: str  # e.g. "the from-scratch transformer (3 seeds, worst)"
    skill: str  # e.g. "single-task held-out accuracy"
    value: float | None
    threshold: float
    higher: bool = True

    @property
    def passed(self) -> bool:
        if self.value is None or not all_finite(self.value):
            return False
        return bool(self.value >= self.threshold) if self.higher else bool(self.value <= self.threshold)

    def why(self) -> str:
        v = "undefined" if self.value is None or not all_finite(self.value) else f"{float(self.value):.4g}"
        return (f"{self.model} did not learn {self.skill} ({v}; the gate needs "
                f"{'>=' if self.higher else '<='} {self.threshold:g})")

    def record(self) -> dict:
        return {"model": self.model, "skill": self.skill, "value": _finite(_plain_number(self.value)),
                "threshold": self.threshold, "direction": ">=" if self.higher else "<=", "passed": self.passed}


def gate(thresholds: dict, key: str, model: str, skill: str, value, higher: bool = True) -> Gate:
    """A `Gate` whose threshold is the study config's `gates.<key>` (fixed per scale before measuring)."""
    if key not in (thresholds or {}):
        raise KeyError(f"config: `gates.{key}` is not set for this scale (the threshold of the gate on {skill})")
    return Gate(model=model, skill=skill, value=_plain_number(value), threshold=float(thresholds[key]),
                higher=higher)


def _plain_number(v):
    try:
        return float(v) if v is not None else None
    except (TypeError, ValueError):
        return None


@dataclass
class Claim:
    id: str
    statement: str
    rule: str  # the acceptance rule, in words, as applied to `measured`
    measured: dict  # the numbers the verdict is computed from
    holds: bool | None  # None: not measured at this scale (a needed arm or setting is absent; notes say which)
    figure: str | None = None  # file name under results/<study>/figures/
    paper_value: object = None
    notes: str = ""
    # scales at which the study says this claim must hold; elsewhere it is measured and reported honestly, but
    # a miss is expected (e.g. a phenomenon that needs the paper's model size)
    expected_at: tuple = ("small", "paper")
    kind: str = "paper"  # a key of KINDS
    gates: list = field(default_factory=list)  # `Gate`s: a failed one makes the verdict "not measured"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {sorted(KINDS)}, got {self.kind!r}")

    def as_record(self, scale: str) -> dict:
        rec = asdict(self)
        rec["measured"] = _finite(rec["measured"])  # JSON has no NaN: an undefined measurement is null
        rec["scale"] = scale
        rec["expected"] = scale in self.expected_at
        rec.pop("expected_at")
        rec["gates"] = [g.record() for g in self.gates]
        failed = [g.why() for g in self.gates if not g.passed]
        rec["not_measured"] = ("not measured: " + "; ".join(failed)) if failed and scale != "smoke" else None
        if rec["not_measured"]:
            rec["holds"] = None
        elif scale == "smoke":
            rec["holds"] = None
            rec["notes"] = (rec["notes"] + " " if rec["notes"] else "") + "smoke scale: verdict not meaningful."
        elif self.holds is not None:
            rec["holds"] = bool(self.holds)
        return rec


def expect_only(claims: list[Claim], expected_ids, scale: str) -> list[Claim]:
    """Set where each claim is expected from a config list of the ids this scale must show."""
    unknown = set(expected_ids) - {c.id for c in claims}
    if unknown:
        raise ValueError(f"expected_claims names unknown claims: {sorted(unknown)}")
    for c in claims:
        c.expected_at = (scale,) if c.id in expected_ids else ()
    return claims


def records(claims: list[Claim], scale: str) -> list[dict]:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate claim ids: {ids}")
    return [c.as_record(scale) for c in claims]


def standard_error(x) -> float:
    """Standard error of the mean (ddof 1); NaN for fewer than two values."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def bootstrap_ci(values, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of `values` (e.g. per-prompt scores, or per-unit paired differences);
    NaN for fewer than two values."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(_seeds.shift(seed, _SEED_SET))
    means = v[rng.integers(0, len(v), (n, len(v)))].mean(1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def bootstrap_ratio_ci(num, den, n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of sum(num) / sum(den) when whole units (num_i, den_i) are resampled, e.g. a text's
    sentences with their summed log-loss and token counts (a token-weighted mean); NaN for fewer than two units."""
    import numpy as np

    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if len(a) < 2 or len(a) != len(b):
        return float("nan"), float("nan")
    rng = np.random.default_rng(_seeds.shift(seed, _SEED_SET))
    idx = rng.integers(0, len(a), (n, len(a)))
    ratios = a[idx].sum(1) / b[idx].sum(1)
    tail = (1 - level) / 2
    return float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1 - tail))


def use_seed_set(seed_set: int) -> None:
    """Move every bootstrap of this process to `seed_set` (claims adapters call it with the run's set)."""
    global _SEED_SET
    _SEED_SET = int(seed_set)


_SEED_SET = 0


FLOAT_NOISE = 1e-9  # per-unit values are rounded to this: ties computed through means and fits stay ties


def effect(values, unit: str) -> dict:
    """Mean of independent per-unit values (paired differences for a comparison), its standard error over
    `unit`s and the interval mean +- 2 SE. NaN spread for fewer than two units: such an effect is never clear.
    Values are first rounded to `FLOAT_NOISE` (far below any accuracy, loss or alignment resolution): a tie that
    reaches us as [1e-17, 2e-17, 1e-17] (0.9 at every stop, through a least-squares slope) has zero spread and
    a zero mean, and fails every "better" rule instead of passing on rounding error."""
    import numpy as np

    v = np.round(np.asarray(values, dtype=float).ravel() / FLOAT_NOISE) * FLOAT_NOISE
    mean = float(v.mean()) if len(v) else float("nan")
    se = standard_error(v)
    return {"mean": mean, "se": se, "lo": mean - 2 * se, "hi": mean + 2 * se, "n": int(len(v)), "unit": unit}


def boot_effect(values, unit: str, n: int = 2000) -> dict:
    """`effect` with a 95% percentile bootstrap interval over the units instead of +- 2 SE."""
    e = effect(values, unit)
    e["lo"], e["hi"] = bootstrap_ci(values, n=n)
    return e


def clearly_above(e: dict, margin: float = 0.0) -> bool:
    """"Better": the effect's whole interval lies above `margin` (a tie or an effect within noise fails)."""
    return bool(e["n"] >= 2 and all_finite(e["lo"], e["mean"]) and e["lo"] > margin)


def clearly_below(e: dict, margin: float = 0.0) -> bool:
    return bool(e["n"] >= 2 and all_finite(e["hi"], e["mean"]) and e["hi"] < margin)


def no_worse_than(e: dict, tolerance: float) -> bool:
    """"No worse": the interval's lower end is above -tolerance (e = new - reference, higher is better)."""
    return bool(e["n"] >= 2 and all_finite(e["lo"], e["mean"]) and e["lo"] > -abs(tolerance))


def cluster_bootstrap_ci(values, clusters, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Two-level percentile interval of the mean: resample clusters (e.g. seeds: one trained model each), then
    items (prompts, pairs) within each drawn cluster. Cells that share a model are never treated as independent."""
    import numpy as np

    v, c = np.asarray(values, dtype=float), np.asarray(clusters)
    groups = [v[c == k] for k in np.unique(c)]
    if len(groups) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(_seeds.shift(seed, _SEED_SET))
    means = np.empty(n)
    for b in range(n):
        picks = rng.integers(0, len(groups), len(groups))
        means[b] = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in (groups[i] for i in picks)]).mean()
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def all_finite(*values) -> bool:
    """A diverged measurement (NaN, inf) must fail a comparison, not drop out of it."""
    import numpy as np

    return bool(all(np.isfinite(np.asarray(v, dtype=float)).all() for v in values))


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def metrics_summary(recs: list[dict]) -> dict:
    """Flat numbers for `dvc metrics show`: every scalar measured value plus 1/0 verdicts."""
    out: dict = {}
    for r in recs:
        for key, v in _flatten(r["measured"]).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[f"{r['id']}.{key}"] = v
        if r["holds"] is not None:
            out[f"{r['id']}.holds"] = int(r["holds"])
    return out


def _flatten(d, prefix=""):
    out = {}
    for k, v in (d.items() if isinstance(d, dict) else []):
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def verdict(holds, expected: bool = True, scale: str = "smoke", not_measured: str | None = None) -> str:
    if not_measured:
        return not_measured
    if holds is False and not expected:
        return "not reproduced (not expected at this scale)"
    if holds is None:
        return "n/a (smoke)" if scale == "smoke" else "not measured at this scale"
    return {True: "holds", False: "**NOT reproduced**"}[holds]


def status(rec: dict) -> str:
    """One word per verdict, for comparing seed sets: holds, fails, gated (a model did not learn), absent."""
    if rec.get("not_measured"):
        return "gated"
    return {True: "holds", False: "fails", None: "absent"}[rec["holds"]]


def stability(rec: dict, alt: dict | None) -> str:
    if alt is None:
        return "-"
    a, b = status(rec), status(alt)
    return f"stable ({a})" if a == b else f"FLIPS ({a} -> {b})"


def _verdict_of(r: dict) -> str:
    return verdict(r["holds"], r.get("expected", True), r["scale"], r.get("not_measured"))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _counts(recs: list[dict]) -> str:
    held = sum(r["holds"] is True for r in recs)
    gated = sum(bool(r.get("not_measured")) for r in recs)
    absent = sum(r["holds"] is None for r in recs) - gated
    extra = [f"{gated} not measured because a model did not learn"] if gated else []
    extra += [f"{absent} not measured at this scale"] if absent else []
    return f"{held} of {len(recs) - absent - gated}" + (f" measured ({'; '.join(extra)})" if extra else "")


def render_report(by_study: dict[str, list[dict]], robust: dict[str, list[dict]] | None = None) -> str:
    """Markdown across studies, the paper's claims apart from extensions and sanity checks; figure links are
    relative to results/. `robust`: the same studies' claims under the alternate seed set, shown beside."""
    robust = robust or {}
    alt = {(s, r["id"]): r for s, v in robust.items() for r in v}
    lines = ["# repro: claims report", ""]
    every = [dict(r, study=s) for s, v in by_study.items() for r in v]
    of_kind = {k: [r for r in every if r.get("kind", "paper") == k] for k in KINDS}
    scales = sorted({r["scale"] for r in every})
    if scales == ["smoke"]:
        lines += [f"Scale: smoke. {len(every)} claims and checks measured; verdicts are not meaningful at smoke "
                  "scale.", ""]
    else:
        paper = of_kind["paper"]
        failed = [f"{r['study']}/{r['id']}" for r in paper if r["holds"] is False and r.get("expected", True)]
        unexpected = [f"{r['study']}/{r['id']}" for r in paper if r["holds"] is False and not r.get("expected", True)]
        gated = [f"{r['study']}/{r['id']}" for r in every if r.get("not_measured")]
        lines += [f"Scale: {', '.join(scales)}. {_counts(paper)} of the papers' claims hold"
                  + (f"; {_counts(of_kind['extension'])} of this project's extensions hold"
                     if of_kind["extension"] else "")
                  + (f"; {_counts(of_kind['sanity'])} sanity checks pass" if of_kind["sanity"] else "") + "."
                  + (f" Not measured because a model did not learn (competence gate failed): {', '.join(gated)}."
                     if gated else "")
                  + (f" Not reproduced: {', '.join(failed)}." if failed else "")
                  + (f" Not reproduced and not expected at this scale: {', '.join(unexpected)}." if unexpected else ""),
                  ""]
        if alt:
            shown = [r for r in every if r["study"] in robust]
            flips = [f"{r['study']}/{r['id']}" for r in shown if stability(r, alt.get((r["study"], r["id"])))
                     .startswith("FLIPS") or (r["study"], r["id"]) not in alt]
            lines += [f"Robustness: {len(shown) - len(flips)} of {len(shown)} verdicts of {len(robust)} studies are "
                      "the same under the alternate seed set (`seed_set: 1`, results/seed_set_1/)"
                      + (f"; flipping or missing: {', '.join(flips)}." if flips else "."), ""]
    for study, recs in by_study.items():
        lines += [f"## {study}", ""]
        two = study in robust
        for kind, title in KINDS.items():
            group = [r for r in recs if r.get("kind", "paper") == kind]
            if not group:
                continue
            head = "| claim | verdict | " + ("seed set 1 | stable? | " if two else "") + "measured | rule | paper | figure |"
            lines += [f"### {title}", "", head, "|" + "---|" * head.count(" | ") + "---|"]
            for r in group:
                fig = f"[{r['figure']}]({study}/figures/{r['figure']})" if r.get("figure") else ""
                stmt = r["statement"].replace("|", "\\|")
                robust_cols = ""
                if two:
                    a = alt.get((study, r["id"]))
                    robust_cols = f"{_verdict_of(a) if a else 'missing'} | {stability(r, a)} | "
                lines.append(f"| **{r['id']}**: {stmt} | {_verdict_of(r)} | {robust_cols}{_fmt(r['measured'])} | "
                             f"{r['rule']} | {_fmt(r['paper_value']) if r['paper_value'] is not None else '-'} | {fig} |")
            lines.append("")
    return "\n".join(lines)


def render_report_html(by_study: dict[str, list[dict]], robust: dict[str, list[dict]] | None = None) -> str:
    """The same claims as one self-contained HTML page, for `snakemake --report` (an item beside the figures)."""
    from html import escape

    alt = {(s, r["id"]): r for s, v in (robust or {}).items() for r in v}
    rows = []
    for study, recs in by_study.items():
        for kind, title in KINDS.items():
            group = [r for r in recs if r.get("kind", "paper") == kind]
            if not group:
                continue
            rows.append(f"<tr><th colspan=5 class=group>{escape(study)}: {escape(title)}</th></tr>")
            for r in group:
                v = _verdict_of(r).replace("**", "")
                if (study, r["id"]) in alt or robust and study in robust:
                    v += f" [seed set 1: {stability(r, alt.get((study, r['id'])))}]"
                cls = {True: "ok", False: "no", None: "na"}[r["holds"]]
                paper = _fmt(r["paper_value"]) if r["paper_value"] is not None else "-"
                rows.append(f"<tr><td><b>{escape(r['id'])}</b>: {escape(r['statement'])}</td>"
                            f"<td class={cls}>{escape(v)}</td><td>{escape(_fmt(r['measured']))}</td>"
                            f"<td>{escape(r['rule'])}</td><td>{escape(paper)}</td></tr>")
    style = ("body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse} "
             "td,th{border:1px solid #ccc;padding:4px;vertical-align:top;text-align:left} "
             "th.group{background:#eee} td.ok{color:#060} td.no{color:#a00;font-weight:bold} td.na{color:#666}")
    return (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>repro claims</title><style>{style}</style>"
            "</head><body><h1>repro: claims report</h1><table><tr><th>claim</th><th>verdict</th><th>measured</th>"
            f"<th>rule</th><th>paper</th></tr>{''.join(rows)}</table></body></html>\n")
