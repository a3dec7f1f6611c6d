"""entp speed: one Count3 training step (forward, backward, AdamW) for the decoder and for the encoder computed
three ways: the paper's Python loop over positions, one batched forward over all prefixes with a key mask, and
the same split into padding-aware buckets.

    python benchmarks/entp_step.py                 # the paper's setting: block 64, 6L/6H/384, batch 64, 48 targets
    python benchmarks/entp_step.py --block 16 --seed-len 4 --layers 2 --heads 2 --width 64   # CPU-sized

Prints ms/step; asserts nothing. bf16 autocast on CUDA; --compile adds torch.compile.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from repro.core.runtime import resolve_device
from repro.studies.entp import data as D
from repro.studies.entp.model import make_model, next_token_logits


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def loop_logits(model, x, positions):
    """The paper's code: one forward of the whole batch per target position, on the truncated prefix."""
    return torch.stack([model(x[:, : t + 1])[:, t] for t in positions.tolist()], 1)


def step_time(model, logits_fn, a, dev, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
    pos = torch.tensor(D.count3_positions(a.block, a.seed_len), device=dev)
    g = torch.Generator(device=dev).manual_seed(0)
    batches = [D.count3(a.batch, a.block, a.seed_len, a.block, g, dev) for _ in range(2)]

    def one(x):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logits = logits_fn(model, x[:, :-1], pos)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:][:, pos].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(2):  # warm-up (and compilation)
        one(batches[i % 2])
    sync(dev)
    t = time.perf_counter()
    for i in range(steps):
        one(batches[i % 2])
    sync(dev)
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--seed-len", type=int, default=16)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--loop-steps", type=int, default=2, help="steps for the slow per-position loop (0 skips it)")
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    dev = resolve_device(a.device)
    n_pred = a.block - a.seed_len
    print(f"Count3 block {a.block}, {n_pred} targets, {a.layers}L/{a.heads}H/{a.width}, batch {a.batch}, "
          f"{dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else 'fp32'})")

    def model(arch):
        torch.manual_seed(0)
        m = make_model(arch, a.layers, a.heads, a.width, a.block, a.block).to(dev)
        return torch.compile(m) if a.compile and dev.type == "cuda" else m

    rows = [("decoder, one causal pass", "decoder", lambda m, x, p: next_token_logits(m, x, p), a.steps)]
    if a.loop_steps:
        rows.append(("encoder, Python loop over positions (paper)", "encoder", loop_logits, a.loop_steps))
    for b in (1, 4, 8):
        rows.append((f"encoder, batched prefixes, {b} bucket(s)", "encoder",
                     lambda m, x, p, b=b: next_token_logits(m, x, p, buckets=b), a.steps))
    results = {}
    for name, arch, fn, steps in rows:
        m = model(arch)  # a compiled module forwards .cfg to the GPT it wraps
        results[name] = step_time(m, fn, a, dev, steps)
        print(f"  {name:48s} {results[name] * 1e3:9.1f} ms/step")
    base = results.get("encoder, Python loop over positions (paper)")
    best = min(v for k, v in results.items() if "batched" in k)
    if base:
        print(f"  batched encoder is {base / best:.1f}x faster than the loop")
    print(f"  encoder/decoder step ratio {best / results['decoder, one causal pass']:.1f}")


if __name__ == "__main__":
    main()
