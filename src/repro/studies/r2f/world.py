"""r2f's toy world: coloured shapes with a long-tailed (colour, shape) count table, and the hierarchical
conditioning that teaches the model umbrella concepts ("a red angular", "a red object") beside the exact pair.

Conditioning tokens: colour in 0..5 or NULL_COLOUR; object in 0..7 (shapes), 8..10 (families), 11 ("object")
or NULL_OBJECT. During training each label is coarsened at random: shape -> family (p_family), shape ->
"object" (p_object), both -> null (p_null, for classifier-free guidance).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from repro.core.shapes import COLOURS, SHAPES, render

COLOUR_NAMES = tuple(COLOURS)
FAMILY = {"circle": "round", "ring": "round", "square": "angular", "triangle": "angular", "diamond": "angular",
          "cross": "linear", "bar": "linear", "star": "linear"}
FAMILIES = ("round", "angular", "linear")
OBJECTS = SHAPES + FAMILIES + ("object",)
NULL_COLOUR, NULL_OBJECT = len(COLOUR_NAMES), len(OBJECTS)


def object_id(name: str) -> int:
    return OBJECTS.index(name)


def counts_table(n_frequent: int, rare: dict) -> dict:
    """n(colour, shape): `rare` maps "colour shape" to its (small) count; every other pair gets n_frequent."""
    table = {}
    for s in SHAPES:
        for c in COLOUR_NAMES:
            table[(c, s)] = int(rare.get(f"{c} {s}", n_frequent))
    unknown = set(rare) - {f"{c} {s}" for c, s in table}
    if unknown:
        raise ValueError(f"rare pairs name unknown colours or shapes: {sorted(unknown)}")
    return table


def concept_counts(table: dict) -> dict:
    """Counts of every (colour, concept) the conditioning can name: shapes, families and "object" (the
    planner's analogue of LAION word counts)."""
    out = dict(table)
    for c in COLOUR_NAMES:
        for fam in FAMILIES:
            out[(c, fam)] = sum(n for (cc, s), n in table.items() if cc == c and FAMILY[s] == fam)
        out[(c, "object")] = sum(n for (cc, _), n in table.items() if cc == c)
    return out


@dataclass
class Images:
    x: torch.Tensor  # (n, 3, H, W) in [-1, 1] (the diffusion model's range)
    colour: torch.Tensor  # (n,) colour ids
    shape: torch.Tensor  # (n,) shape ids (0..7)


def dataset(table: dict, size: int, seed: int, **style) -> Images:
    """`table[(colour, shape)]` renders of each pair; `style` passes the renderer's noise, shift and radius."""
    pairs = [(c, s) for (c, s), n in sorted(table.items()) for _ in range(n)]
    g = torch.Generator().manual_seed(seed)
    x = render([s for _, s in pairs], [COLOURS[c] for c, _ in pairs], size, g, **style)
    colour = torch.tensor([COLOUR_NAMES.index(c) for c, _ in pairs])
    shape = torch.tensor([SHAPES.index(s) for _, s in pairs])
    return Images(x * 2 - 1, colour, shape)


def coarsen(colour: torch.Tensor, shape: torch.Tensor, p_family: float, p_object: float, p_null: float,
            gen: torch.Generator):
    """The training labels with the hierarchical dropout applied: (colour tokens, object tokens)."""
    fam = torch.tensor([object_id(FAMILY[s]) for s in SHAPES])[shape]
    u = torch.rand(len(shape), generator=gen)
    obj = torch.where(u < p_family, fam, shape)
    obj = torch.where((u >= p_family) & (u < p_family + p_object), torch.full_like(shape, object_id("object")), obj)
    null = torch.rand(len(shape), generator=gen) < p_null
    return (torch.where(null, torch.full_like(colour, NULL_COLOUR), colour),
            torch.where(null, torch.full_like(shape, NULL_OBJECT), obj))


def parse_prompt(prompt: str) -> tuple[int, int]:
    """'a red circle' / 'a red angular' / 'a red object' -> (colour token, object token)."""
    words = prompt.lower().split()
    if len(words) != 3 or words[0] not in ("a", "an") or words[1] not in COLOUR_NAMES or words[2] not in OBJECTS:
        raise ValueError(f"toy prompts read 'a <colour> <shape|family|object>', got {prompt!r}")
    return COLOUR_NAMES.index(words[1]), object_id(words[2])
