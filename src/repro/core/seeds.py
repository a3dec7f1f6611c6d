"""Seed sets: one config key (`seed_set`) moves every seed of every study to a disjoint set.

A verdict that hangs on one seed's trajectory (or one machine's floating point) is not a finding. Setting
`seed_set: 1` adds `STRIDE` to every seed-valued setting of the resolved config (the global `seeds` and, in
each study's block, every key named `seed`, `seeds`, `*_seed` or `*_seeds`: data, training, evaluation) and to
the claims' bootstrap seed, so no draw is shared with `seed_set: 0`. Its outputs go to their own results tree.
"""

from __future__ import annotations

import re

STRIDE = 1000  # seeds of one set stay below this; code derives sub-streams as seed * k + j, never seed + 1000
SEED_KEY = re.compile(r"^(seed|seeds|\w+_seed|\w+_seeds)$")


def shift(seed: int, seed_set: int) -> int:
    return int(seed) + STRIDE * int(seed_set)


def shift_tree(node, seed_set: int, key: str | None = None):
    """A copy of a config tree with every seed-named value moved to `seed_set` (ints and lists of ints)."""
    if isinstance(node, dict):
        return {k: shift_tree(v, seed_set, k) for k, v in node.items()}
    if key is not None and SEED_KEY.match(str(key)):
        if isinstance(node, bool):
            return node
        if isinstance(node, int):
            return shift(node, seed_set)
        if isinstance(node, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in node):
            return [shift(s, seed_set) for s in node]
    if isinstance(node, list):
        return [shift_tree(v, seed_set) for v in node]
    return node


def results_root(seed_set: int, base: str = "results") -> str:
    """Where a seed set's outputs live: the default set in `results/`, another beside it, never mixed."""
    return base if int(seed_set) == 0 else f"{base}/seed_set_{int(seed_set)}"
