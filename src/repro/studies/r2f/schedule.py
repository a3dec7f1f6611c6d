"""Which prompt conditions each sampling step: R2F's alternating schedule, fixed stop steps, and the
interpolated (FLUX-style) weights.

Alternating (step i of N, sequence p_0..p_K, sorted stop steps T = [S_1, .., S_K, N]): the mode m counts the
stop steps already reached; even steps use p_m, odd steps the prompt p_K (alt = 2). The repo advances m only when
i equals T[m] exactly, in the order the levels were listed, so with levels (5, 3) it never reaches the last
prompt; sorted stops and `i >= T[m]` fix that.
"""

from __future__ import annotations


def alternating(n_steps: int, stops: list, alt: int = 2) -> list[int]:
    """Index into the prompt sequence (len(stops) + 1 prompts) for every step 0..n_steps-1."""
    bounds = sorted(int(s) for s in stops) + [n_steps]
    last, m, out = len(stops), 0, []
    for i in range(n_steps):
        while m < len(bounds) - 1 and i >= bounds[m]:
            m += 1
        out.append(m if i % alt == 0 else last)
    return out


def interpolation(n_steps: int, alpha: float, until: int) -> list[float]:
    """Weight of the frequent embedding per step: alpha on steps < until, 0 after (e = a e_F + (1 - a) e_R)."""
    return [alpha if i < until else 0.0 for i in range(n_steps)]
