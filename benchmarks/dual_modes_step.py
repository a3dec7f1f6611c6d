"""dual_modes speed: prior sampling, one training step of the largest transformer, and the early-ascent sweep.

    python benchmarks/dual_modes_step.py [--device auto] [--layers 10 --width 1024 --batch 256 --pairs 32]

Prints numbers; asserts nothing. Model FLOPs use the standard 6 * params * tokens (+ attention) count;
MFU is reported against the bf16 dense peak of known GPUs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from repro.core.runtime import resolve_device
from repro.core.train import TrainConfig
from repro.studies.dual_modes import bayes
from repro.studies.dual_modes import data as P
from repro.studies.dual_modes import train as T

BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn, device, repeat=20, warmup=3):
    for _ in range(warmup):
        fn()
    sync(device)
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync(device)
    return (time.perf_counter() - t) / repeat


def numpy_loop_sampler(prior: P.Prior, batch: int, n: int, rng):
    """The per-prompt style of the paper's code, for reference."""
    out = []
    for _ in range(batch):
        b = rng.choice(prior.M, p=prior.pi.numpy())
        mu = rng.multivariate_normal(prior.mu[b].numpy(), prior.sigma_mu**2 * np.eye(prior.d))
        w = rng.multivariate_normal(prior.w[b].numpy(), prior.sigma_w**2 * np.eye(prior.d))
        X = rng.multivariate_normal(mu, prior.sigma_x**2 * np.eye(prior.d), size=n)
        out.append((X, X @ w + prior.sigma_y * rng.normal(size=n)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args()
    dev = resolve_device(a.device)
    prior = P.regular4(1 / 16, torch.float32)

    t_np = timeit(lambda: numpy_loop_sampler(prior, 256, a.pairs, np.random.default_rng(0)), torch.device("cpu"), 3, 1)
    pd_ = prior.to(dev)
    g = torch.Generator(device=dev).manual_seed(0)
    t_vec = timeit(lambda: P.sample_pretraining(pd_, 256, a.pairs, g), dev)
    print(f"prior sampling, 256 prompts x {a.pairs} pairs: numpy per-prompt loop {t_np * 1e3:.1f} ms, "
          f"vectorised on {dev.type} {t_vec * 1e3:.3f} ms")

    mc = T.model_config(3, a.pairs, a.layers, a.heads, a.width)
    for compiled in ([False] if (a.no_compile or dev.type != "cuda") else [False, True]):
        cfg = TrainConfig(steps=a.steps, lr=1e-4, warmup=0, log_every=a.steps, compile=compiled)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        model, hist = T.train(prior, mc, a.pairs, a.batch, TrainConfig(**{**cfg.__dict__, "steps": 3}), seed=0,
                              device=dev)  # warm-up (and compile)
        sync(dev)
        warm = time.perf_counter() - t0
        model, hist = T.train(prior, mc, a.pairs, a.batch, cfg, seed=0, device=dev)
        sync(dev)
        t0 = time.perf_counter()
        model, hist = T.train(prior, mc, a.pairs, a.batch, cfg, seed=1, device=dev)
        sync(dev)
        step = (time.perf_counter() - t0) / a.steps
        n_params = sum(p.numel() for p in model.parameters())
        tokens = a.batch * 2 * a.pairs
        flops = 6 * n_params * tokens + 12 * a.layers * a.width * (2 * a.pairs) * tokens
        line = (f"train step ({'bf16 autocast' if dev.type == 'cuda' else 'fp32'}"
                f"{' + compile' if compiled else ''}), {n_params / 1e6:.1f}M params, batch {a.batch} x {2 * a.pairs} "
                f"tokens: {step * 1e3:.1f} ms/step, {flops / step / 1e12:.1f} TFLOP/s (warm-up {warm:.1f} s)")
        if dev.type == "cuda":
            name = torch.cuda.get_device_name()
            peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
            if peak:
                line += f", MFU {100 * flops / step / 1e12 / peak:.0f}% of {name} bf16 peak {peak:.0f} TFLOP/s"
        print(line)

    for d, kmax, P_ in [(8, 4096, 10000)] + ([(8, 131072, 10000)] if dev.type == "cuda" else []):
        pr = P.early_ascent(d).to(dev)
        task = P.early_ascent_task(d).to(dev)
        ks = [0] + [2**i for i in range(int(np.log2(kmax)) + 1)]
        t = time.perf_counter()
        bayes.sweep(pr, task, task, pr.w[0], ks, P_, torch.Generator(device=dev).manual_seed(0), chunk=8192)
        sync(dev)
        print(f"early-ascent Bayes sweep d={d}, k<= {kmax}, {P_} prompts, float64 on {dev.type}: "
              f"{time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
