"""R2F's guidance and its baselines on a conditional epsilon-model, as per-step noise predictions for
diffusion.sample. `seq` is the planner's prompt sequence as condition tokens (p_0 .. p_K, p_K the prompt) and
`stops` its stop steps; `null` is the unconditional token. Every method uses classifier-free guidance with
weight w on the condition it picks at that step:

- vanilla: the prompt on every step;
- r2f (and a fixed stop step): R2F's alternating schedule (schedule.alternating);
- interpolation (FLUX-style, as a score interpolation): alpha eps(p_0) + (1 - alpha) eps(p_K) on the steps
  before the first stop, the prompt after;
- composable: the sum of the frequent and the prompt's guidance directions before the first stop (the repo's
  Composable-SD3 ablation sums the two embeddings), the prompt after;
- frequent: p_0 on every step (what the substitute alone draws).
"""

from __future__ import annotations

from repro.studies.r2f.diffusion import cfg
from repro.studies.r2f.schedule import alternating

METHODS = ("vanilla", "r2f", "fixed", "interpolation", "composable", "frequent")


def predictor(model, method: str, seq: list, stops: list, null, w: float, n_steps: int, alpha: float = 0.3,
              batch: int | None = None):
    """eps_at_step(x, t, i) for `method`; tokens are (colour, object) tensors or anything the model takes."""
    if method not in METHODS:
        raise ValueError(f"guidance method must be one of {METHODS}, got {method!r}")
    prompt, first = seq[-1], seq[0]
    plan = alternating(n_steps, stops) if method in ("r2f", "fixed") else None
    first_stop = min(stops) if stops else 0

    def eps(x, t, i):
        e_null = model(x, t, null)
        if method == "vanilla" or len(seq) == 1:
            return cfg(model(x, t, prompt), e_null, w)
        if method == "frequent":
            return cfg(model(x, t, first), e_null, w)
        if method in ("r2f", "fixed"):
            return cfg(model(x, t, seq[plan[i]]), e_null, w)
        if i >= first_stop:
            return cfg(model(x, t, prompt), e_null, w)
        if method == "interpolation":
            return cfg(alpha * model(x, t, first) + (1 - alpha) * model(x, t, prompt), e_null, w)
        # composable
        return e_null + w * ((model(x, t, first) - e_null) + (model(x, t, prompt) - e_null))

    return eps
