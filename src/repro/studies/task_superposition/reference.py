"""The co-author's logged from-scratch curves (JackCai1206/icl-pretraining, run_summaries.json, a 6-layer /
384-wide / 6-head Llama): mean P(task-0 answer) against the share p of task-0 demos. Drawn beside ours."""

CURVES = {
    "copy": {0.0: 0.00, 0.1: 0.01, 0.2: 0.04, 0.3: 0.13, 0.4: 0.30, 0.5: 0.49, 0.6: 0.69, 0.7: 0.84, 0.8: 0.94,
             0.9: 0.99, 1.0: 1.00},
    "bias_add_simple": {0.1: 0.11, 0.2: 0.20, 0.3: 0.30, 0.4: 0.41, 0.5: 0.49, 0.6: 0.62, 0.7: 0.69, 0.8: 0.80,
                        0.9: 0.90},
}
# Per-prompt variance of P(task-0) in those logs at p = 0.5 (close to p(1 - p) = 0.25: prompts are one-hot).
PER_PROMPT_VARIANCE_AT_HALF = (0.24, 0.25)
# Skewed pretraining (bias_add_simple_9010) at p = 0.5: the two answers' mean probabilities.
SKEWED_AT_HALF = (0.24, 0.23)
