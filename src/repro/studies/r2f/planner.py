"""The R2F planner's text format, a rule-based planner that writes it, and the parser that reads it back.

The paper's planner is an LLM answering in a fixed format; its tail is parsed. Ours writes the same tail,
so an LLM backend can replace the rule-based one without touching the parser:

    ### Rare Concepts: red circle
    ### Visual Detail Level: 2
    ### Final Prompt Sequence: a blue circle BREAK a red circle

Several concepts: levels `l1 AND l2`, sequence `f1 BREAK r1 AND f2 BREAK r2`. No rare concept: level 0 and the
prompt alone. The repo's parser sorts the levels as strings with `np.argsort` and then indexes the unsorted
list with the sorted positions; here (level, pair) are sorted together, lowest level (earliest stop) first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LEVEL_FRACTIONS = (0.0, 0.1, 0.2, 0.4, 0.6, 0.8)  # the SD3 map (0, 5, 10, 20, 30, 40) of 50 steps, as shares


@dataclass(frozen=True)
class Plan:
    prompt: str
    levels: tuple  # one int in 0..5 per rare concept, sorted ascending
    pairs: tuple  # one (frequent phrase, rare phrase) per rare concept, in the order of `levels`

    @property
    def is_rare(self) -> bool:
        return bool(self.pairs)

    def sequence(self) -> list[str]:
        """p_0 .. p_K: every concept frequent, then each restored to its rare phrase in level order; p_K is
        the prompt. One concept: (frequent sentence, prompt)."""
        if not self.pairs:
            return [self.prompt]
        seq = []
        for k in range(len(self.pairs) + 1):
            p = self.prompt
            for f, r in self.pairs[k:]:
                if r not in p:
                    raise ValueError(f"rare phrase {r!r} is not in the prompt {p!r}")
                p = p.replace(r, f, 1)
            seq.append(p)
        return seq


def render(plan: Plan, rare_concepts: list | None = None) -> str:
    """The planner's answer tail for `plan`."""
    if not plan.pairs:
        return f"### Rare Concepts: none\n### Visual Detail Level: 0\n### Final Prompt Sequence: {plan.prompt}\n"
    names = rare_concepts or [r for _, r in plan.pairs]
    return ("### Rare Concepts: " + " AND ".join(names) + "\n"
            "### Visual Detail Level: " + " AND ".join(str(level) for level in plan.levels) + "\n"
            "### Final Prompt Sequence: " + " AND ".join(f"{f} BREAK {r}" for f, r in plan.pairs) + "\n")


_FIELD = re.compile(r"^\s*#+\s*(visual detail level|final prompt sequence)\s*:\s*(.*?)\s*$", re.I | re.M)


def parse(text: str, prompt: str) -> Plan:
    """Read the last 'Visual Detail Level' and 'Final Prompt Sequence' lines of a planner's answer (an LLM may
    think aloud above them). Raises ValueError naming what is missing or inconsistent."""
    fields = {}
    for key, value in _FIELD.findall(text):
        fields[key.lower()] = value.strip().strip('"').strip("'")
    if "final prompt sequence" not in fields:
        raise ValueError("planner answer has no '### Final Prompt Sequence:' line")
    seq = fields["final prompt sequence"]
    level_text = fields.get("visual detail level", "0")
    try:
        levels = [int(x) for x in re.split(r"\s+AND\s+", level_text) if x.strip()]
    except ValueError:
        raise ValueError(f"visual detail levels must be integers 0-5, got {level_text!r}") from None
    if any(not 0 <= v < len(LEVEL_FRACTIONS) for v in levels):
        raise ValueError(f"visual detail levels must be in 0..{len(LEVEL_FRACTIONS) - 1}, got {levels}")
    if "BREAK" not in seq or levels in ([], [0]):
        return Plan(prompt, (), ())
    pairs = []
    for part in re.split(r"\s+AND\s+", seq):
        if "BREAK" not in part:
            raise ValueError(f"sequence item {part!r} has no 'frequent BREAK rare'")
        f, r = (s.strip() for s in part.split("BREAK", 1))
        pairs.append((f, r))
    if len(pairs) != len(levels):
        raise ValueError(f"{len(levels)} visual detail levels for {len(pairs)} 'BREAK' pairs")
    order = sorted(range(len(levels)), key=lambda i: (levels[i], i))  # level and pair move together
    return Plan(prompt, tuple(levels[i] for i in order), tuple(pairs[i] for i in order))


def stop_steps(plan: Plan, n_steps: int) -> list[int]:
    """Step at which each concept switches to its rare phrase on every step: round(fraction[level] * N)."""
    return [round(LEVEL_FRACTIONS[level] * n_steps) for level in plan.levels]


# ----------------------------------------------------------------------------------------------- rule-based


SUBSTITUTES = ("shape_keeping", "family")  # the config's planner.substitute (and its ablations)


def rule_based(attribute: str, obj: str, counts: dict, family: dict, level: int, n_rare: int,
               force: bool = False, substitute: str = "shape_keeping", colours=None) -> Plan:
    """The toy planner: `counts[(attribute, concept)]` is the training count (the LAION-count analogue) for
    shapes, families and "object". A pair seen fewer than n_rare times is rare. Its substitute follows the
    paper's planner template, which keeps what the rare composition gets wrong and swaps what makes it rare
    ("a peach made of glass" -> "a pink sphere made of glass"; "a banana shaped apple" -> "a banana shaped red
    object"). In this world a rare (colour, shape) pair is drawn in the right colour and the wrong shape, so:

    - `shape_keeping` (default): "a <other colour> <same shape>", the colour with the most renders of this
      shape. Ties (every frequent colour of a shape has n_frequent renders) go to the colour listed first in
      `colours` (the world's palette order; sorted names if not given), so the plan never depends on dict
      order. If no other colour of the shape reaches n_rare, the shape itself is rare and the family rule below
      applies.
    - `family` (the earlier design, kept as an ablation): the shape's family if the colour is frequent in it,
      else the generic "object", else the sibling shape with the most renders of the colour. It keeps the
      colour, which is already right, and swaps the shape, which is what fails.

    `force`: plan the pair as rare whatever its count (the substitute is still chosen with n_rare)."""
    if substitute not in SUBSTITUTES:
        raise ValueError(f"planner substitute must be one of {', '.join(SUBSTITUTES)}, got {substitute!r}")
    prompt = f"a {attribute} {obj}"
    if counts.get((attribute, obj), 0) >= n_rare and not force:
        return Plan(prompt, (), ())
    if substitute == "shape_keeping":
        order = list(colours) if colours is not None else sorted({c for (c, o) in counts if o == obj})
        others = [c for c in order if c != attribute]
        # max() keeps the first of equal counts: ties go to the earliest colour in `order`
        best = max(others, key=lambda c: counts.get((c, obj), 0)) if others else None
        if best is not None and counts.get((best, obj), 0) >= n_rare:
            return Plan(prompt, (level,), ((f"a {best} {obj}", prompt),))
    fam = family[obj]
    if counts.get((attribute, fam), 0) >= n_rare:
        sub = fam
    elif counts.get((attribute, "object"), 0) >= n_rare:
        sub = "object"
    else:
        siblings = [o for o, f in family.items() if f == fam and o != obj]
        sub = max(siblings, key=lambda o: counts.get((attribute, o), 0)) if siblings else "object"
    return Plan(prompt, (level,), ((f"a {attribute} {sub}", prompt),))
