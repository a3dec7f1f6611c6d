"""Claims: what a study says the paper found, what we measured, and whether it held at this scale.

A study's claims.py builds `Claim`s whose `holds` is *computed* from the measured values by the rule the
claim states. At smoke scale the numbers are kept but the verdict is null: smoke runs are too small to mean
anything. `results/REPORT.md` gathers every study's claims.json into one table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SCALES = ("smoke", "small", "paper")


@dataclass
class Claim:
    id: str
    statement: str
    rule: str  # the acceptance rule, in words, as applied to `measured`
    measured: dict  # the numbers the verdict is computed from
    holds: bool | None
    figure: str | None = None  # file name under results/<study>/figures/
    paper_value: object = None
    notes: str = ""
    # scales at which the study says this claim must hold; elsewhere it is measured and reported honestly, but
    # a miss is expected (e.g. a phenomenon that needs the paper's model size)
    expected_at: tuple = ("small", "paper")

    def as_record(self, scale: str) -> dict:
        rec = asdict(self)
        rec["measured"] = _finite(rec["measured"])  # JSON has no NaN: an undefined measurement is null
        rec["scale"] = scale
        rec["expected"] = scale in self.expected_at
        rec.pop("expected_at")
        if scale == "smoke":
            rec["holds"] = None
            rec["notes"] = (rec["notes"] + " " if rec["notes"] else "") + "smoke scale: verdict not meaningful."
        else:
            rec["holds"] = bool(self.holds)
        return rec


def records(claims: list[Claim], scale: str) -> list[dict]:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate claim ids: {ids}")
    return [c.as_record(scale) for c in claims]


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


def verdict(holds, expected: bool = True) -> str:
    if holds is False and not expected:
        return "not reproduced (not expected at this scale)"
    return {True: "holds", False: "**NOT reproduced**", None: "n/a (smoke)"}[holds]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def render_report(by_study: dict[str, list[dict]]) -> str:
    """Markdown across studies; figure links are relative to results/."""
    lines = ["# repro: claims report", ""]
    total = sum(len(v) for v in by_study.values())
    held = sum(r["holds"] is True for v in by_study.values() for r in v)
    failed = [(s, r["id"]) for s, v in by_study.items() for r in v if r["holds"] is False and r.get("expected", True)]
    unexpected = [(s, r["id"]) for s, v in by_study.items() for r in v
                  if r["holds"] is False and not r.get("expected", True)]
    scales = sorted({r["scale"] for v in by_study.values() for r in v})
    if scales == ["smoke"]:
        lines += [f"Scale: smoke. {total} claims measured; verdicts are not meaningful at smoke scale.", ""]
    else:
        lines += [f"Scale: {', '.join(scales)}. {held} of {total} claims hold."
                  + (f" Not reproduced: {', '.join(f'{s}/{i}' for s, i in failed)}." if failed else "")
                  + (f" Not reproduced and not expected at this scale: {', '.join(f'{s}/{i}' for s, i in unexpected)}."
                     if unexpected else ""), ""]
    for study, recs in by_study.items():
        lines += [f"## {study}", "", "| claim | verdict | measured | rule | paper | figure |",
                  "|---|---|---|---|---|---|"]
        for r in recs:
            fig = f"[{r['figure']}]({study}/figures/{r['figure']})" if r.get("figure") else ""
            stmt = r["statement"].replace("|", "\\|")
            verdict_text = verdict(r["holds"], r.get("expected", True))
            lines.append(f"| **{r['id']}**: {stmt} | {verdict_text} | {_fmt(r['measured'])} | "
                         f"{r['rule']} | {_fmt(r['paper_value']) if r['paper_value'] is not None else '-'} | {fig} |")
        lines.append("")
    return "\n".join(lines)
