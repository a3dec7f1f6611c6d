"""Claims: what a study says the paper found, what we measured, and whether it held at this scale.

A study's claims.py builds `Claim`s whose `holds` is *computed* from the measured values by the rule the
claim states. At smoke scale the numbers are kept but the verdict is null: smoke runs are too small to mean
anything. `results/REPORT.md` gathers every study's claims.json into one table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SCALES = ("smoke", "small", "paper")
# What a claim is: one of the paper's own findings; this project's extension of the paper (a measurement
# the paper does not make); or a sanity check of our own code (e.g. a construction has the size its
# formula says), which is reported apart and never counted as reproducing the paper.
KINDS = {"paper": "The paper's claims", "extension": "This project's extensions (not claims of the paper)",
         "sanity": "Sanity checks of this project's code (not claims of the paper)"}


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

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {sorted(KINDS)}, got {self.kind!r}")

    def as_record(self, scale: str) -> dict:
        rec = asdict(self)
        rec["measured"] = _finite(rec["measured"])  # JSON has no NaN: an undefined measurement is null
        rec["scale"] = scale
        rec["expected"] = scale in self.expected_at
        rec.pop("expected_at")
        if scale == "smoke":
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
    means = v[np.random.default_rng(seed).integers(0, len(v), (n, len(v)))].mean(1)
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


def verdict(holds, expected: bool = True, scale: str = "smoke") -> str:
    if holds is False and not expected:
        return "not reproduced (not expected at this scale)"
    if holds is None:
        return "n/a (smoke)" if scale == "smoke" else "not measured at this scale"
    return {True: "holds", False: "**NOT reproduced**"}[holds]


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
    absent = sum(r["holds"] is None for r in recs)
    return f"{held} of {len(recs) - absent}" + (f" measured ({absent} not measured at this scale)" if absent else "")


def render_report(by_study: dict[str, list[dict]]) -> str:
    """Markdown across studies, the paper's claims apart from extensions and sanity checks; figure links are
    relative to results/."""
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
        lines += [f"Scale: {', '.join(scales)}. {_counts(paper)} of the papers' claims hold"
                  + (f"; {_counts(of_kind['extension'])} of this project's extensions hold"
                     if of_kind["extension"] else "")
                  + (f"; {_counts(of_kind['sanity'])} sanity checks pass" if of_kind["sanity"] else "") + "."
                  + (f" Not reproduced: {', '.join(failed)}." if failed else "")
                  + (f" Not reproduced and not expected at this scale: {', '.join(unexpected)}." if unexpected else ""),
                  ""]
    for study, recs in by_study.items():
        lines += [f"## {study}", ""]
        for kind, title in KINDS.items():
            group = [r for r in recs if r.get("kind", "paper") == kind]
            if not group:
                continue
            lines += [f"### {title}", "", "| claim | verdict | measured | rule | paper | figure |",
                      "|---|---|---|---|---|---|"]
            for r in group:
                fig = f"[{r['figure']}]({study}/figures/{r['figure']})" if r.get("figure") else ""
                stmt = r["statement"].replace("|", "\\|")
                verdict_text = verdict(r["holds"], r.get("expected", True), r["scale"])
                lines.append(f"| **{r['id']}**: {stmt} | {verdict_text} | {_fmt(r['measured'])} | "
                             f"{r['rule']} | {_fmt(r['paper_value']) if r['paper_value'] is not None else '-'} | {fig} |")
            lines.append("")
    return "\n".join(lines)


def render_report_html(by_study: dict[str, list[dict]]) -> str:
    """The same claims as one self-contained HTML page, for `snakemake --report` (an item beside the figures)."""
    from html import escape

    rows = []
    for study, recs in by_study.items():
        for kind, title in KINDS.items():
            group = [r for r in recs if r.get("kind", "paper") == kind]
            if not group:
                continue
            rows.append(f"<tr><th colspan=5 class=group>{escape(study)}: {escape(title)}</th></tr>")
            for r in group:
                v = verdict(r["holds"], r.get("expected", True), r["scale"]).replace("**", "")
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
