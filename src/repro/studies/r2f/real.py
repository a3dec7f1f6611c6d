"""R2F on a real text-to-image model, from local weights only (never downloaded): diffusers' Stable Diffusion 3
pipeline, with the prompt switched step by step through the pipeline's end-of-step callback, and plans from the
authors' cached planner answers (JSON, no LLM needed) or from any planner text our parser reads.

    python -m repro.studies.r2f.real --sd3 /models/sd3-medium --plans r2f_prompt/rarebench/1property_gpt4.txt \
        --out samples/ [--steps 50 --guidance 7 --seed 42]

Not part of the workflow (no weights exist offline); the study's tests cover the plan reading and the callback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repro.studies.r2f.planner import LEVEL_FRACTIONS, Plan, stop_steps
from repro.studies.r2f.schedule import alternating

SD3_STOPS = (0, 5, 10, 20, 30, 40)  # the repo's visual_detail_level_to_transition_step for SD3 at 50 steps


def cached_plans(text: str) -> dict:
    """The repo's cached planner output, one JSON object per line or one object in all:
    {"A hairy frog": {"visual_detail_level": "5", "r2f_prompt": [["A hairy animal", "A hairy frog"]]}}.
    Multi-concept entries list one level per concept and a progressive sequence; levels and their sequence
    steps are sorted together (the repo indexes sorted string levels against the unsorted list)."""
    entries = {}
    for chunk in ([text] if text.lstrip().startswith("{") and _is_json(text) else text.splitlines()):
        if chunk.strip():
            entries.update(json.loads(chunk))
    out = {}
    for prompt, e in entries.items():
        levels = e["visual_detail_level"]
        levels = [int(v) for v in (levels if isinstance(levels, list) else [levels])]
        seq = e["r2f_prompt"]
        if len(levels) == 1 and seq and isinstance(seq[0], list):  # [[frequent, rare]]
            f, r = seq[0][0], seq[0][-1]
            out[prompt] = Plan(prompt, (), ()) if levels == [0] or f == r else Plan(prompt, (levels[0],), ((f, r),))
            continue
        steps = seq[0] if seq and isinstance(seq[0], list) else seq
        # progressive sequence p_0..p_K: each step restores one concept's rare phrase; the levels are listed in
        # the order the concepts appear in the prompt, which need not be the order they are restored in
        pairs = [_changed_phrase(steps[k], steps[k + 1]) for k in range(len(steps) - 1)]
        if len(pairs) != len(levels):
            raise ValueError(f"cached plan for {prompt!r}: {len(levels)} levels for a {len(steps)}-prompt sequence")
        pairs = sorted(pairs, key=lambda fr: steps[-1].find(fr[1]))
        order = sorted(range(len(levels)), key=lambda i: (levels[i], i))
        out[prompt] = Plan(prompt, tuple(levels[i] for i in order), tuple(pairs[i] for i in order))
    return out


def _changed_phrase(before: str, after: str) -> tuple[str, str]:
    """(frequent phrase, rare phrase): the words that differ between two consecutive prompts of a sequence."""
    from difflib import SequenceMatcher

    a, b = before.split(), after.split()
    ops = [op for op in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not ops:
        raise ValueError(f"consecutive prompts are equal: {before!r}")
    i1, j1 = ops[0][1], ops[0][3]
    i2, j2 = ops[-1][2], ops[-1][4]
    return " ".join(a[i1:i2]), " ".join(b[j1:j2])


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False


def sd3_stops(plan: Plan, n_steps: int) -> list[int]:
    """Stop steps on SD3's map, rescaled when n_steps is not 50."""
    if n_steps == 50:
        return [SD3_STOPS[level] for level in plan.levels]
    return stop_steps(plan, n_steps)


class PromptSwitch:
    """SD3 end-of-step callback: after step i it installs the embeddings of the prompt step i + 1 uses under
    R2F's alternating schedule (negative embeddings first, as the pipeline concatenates them for CFG)."""

    tensor_inputs = ["prompt_embeds", "pooled_prompt_embeds"]

    def __init__(self, schedule: list[int], embeds: list, pooled: list, neg, neg_pooled):
        self.schedule, self.embeds, self.pooled, self.neg, self.neg_pooled = schedule, embeds, pooled, neg, neg_pooled

    def first(self):
        """(prompt_embeds, pooled) for step 0, unconcatenated: the pipeline adds the negative half itself."""
        m = self.schedule[0]
        return self.embeds[m], self.pooled[m]

    def __call__(self, pipe, i, t, kwargs):
        import torch

        if i + 1 >= len(self.schedule):
            return kwargs
        m = self.schedule[i + 1]
        return {"prompt_embeds": torch.cat([self.neg, self.embeds[m]]),
                "pooled_prompt_embeds": torch.cat([self.neg_pooled, self.pooled[m]])}


def load_sd3(local_dir):
    """The SD3 pipeline from a local directory, or a one-line error saying what is missing."""
    path = Path(local_dir) if local_dir else None
    if path is None or not (path / "model_index.json").exists():
        raise FileNotFoundError(f"r2f real path: no Stable Diffusion 3 weights at {local_dir!r} (a diffusers folder "
                                "with model_index.json); nothing is downloaded")
    import torch
    from diffusers import StableDiffusion3Pipeline

    dtype = torch.float16 if torch.cuda.is_available() else torch.float32
    pipe = StableDiffusion3Pipeline.from_pretrained(path, torch_dtype=dtype, local_files_only=True)
    return pipe.to("cuda" if torch.cuda.is_available() else "cpu")


def generate(pipe, plan: Plan, steps: int = 50, guidance: float = 7.0, seed: int = 42):
    import torch

    if guidance <= 1:
        raise ValueError("R2F on SD3 needs classifier-free guidance (guidance > 1): the prompt switch replaces "
                         "the [negative, positive] embedding pair")
    seq = plan.sequence()
    schedule = alternating(steps, sd3_stops(plan, steps)) if plan.pairs else [0] * steps
    enc = [pipe.encode_prompt(p, p, p, do_classifier_free_guidance=True) for p in seq]
    embeds, pooled = [e[0] for e in enc], [e[2] for e in enc]
    neg, neg_pooled = enc[-1][1], enc[-1][3]
    switch = PromptSwitch(schedule, embeds, pooled, neg, neg_pooled)
    e0, p0 = switch.first()
    return pipe(prompt_embeds=e0, pooled_prompt_embeds=p0, negative_prompt_embeds=neg,
                negative_pooled_prompt_embeds=neg_pooled, num_inference_steps=steps, guidance_scale=guidance,
                generator=torch.Generator(pipe.device).manual_seed(seed), callback_on_step_end=switch,
                callback_on_step_end_tensor_inputs=switch.tensor_inputs).images[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description="R2F on local Stable Diffusion 3 weights")
    ap.add_argument("--sd3", required=True, help="local diffusers folder of stable-diffusion-3-medium")
    ap.add_argument("--plans", required=True, help="cached planner answers (the repo's r2f_prompt JSON)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--guidance", type=float, default=7.0)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)
    try:
        pipe = load_sd3(a.sd3)
    except FileNotFoundError as err:
        sys.exit(str(err))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for k, (prompt, plan) in enumerate(cached_plans(Path(a.plans).read_text()).items()):
        generate(pipe, plan, a.steps, a.guidance, a.seed).save(out / f"{k:03d}.png")
        print(f"{k:03d}.png\t{prompt}\tlevels {plan.levels}", flush=True)


assert len(SD3_STOPS) == len(LEVEL_FRACTIONS)

if __name__ == "__main__":
    main()
