"""One benchmark command for every study: the paper-scale training or inference step on whatever device is here.

    python benchmarks/run.py                     # paper-scale steps (meant for a GPU: under 5 minutes)
    python benchmarks/run.py --quick             # CPU-sized: small-scale models, under 3 minutes on 2 cores
    python benchmarks/run.py --only entp ftc     # some studies
    python benchmarks/run.py --out bench.jsonl   # also append the lines to a file

Writes one JSON line per measurement with at least `study`, `what`, `device`, `ms_per_step`, plus samples or
tokens per second, model FLOPs utilisation on a known GPU (6 x params x tokens, attention left out), and the
projected wall time of the study's jobs of that kind at the measured scale (ms/step x steps x jobs: paper
scale by default, small scale with --quick). Asserts
nothing: speed is measured here, never in tests. Each study's measurement is its own function below.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from repro.core.config import load_study
from repro.core.runtime import resolve_device

ROOT = Path(__file__).resolve().parents[1]
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def cfg_of(study: str, scale: str) -> dict:
    return load_study(study, scale, ROOT / "config", ROOT / "workflow/schemas")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def per_step(step_fn, device, steps: int, warmup: int = 2) -> float:
    """Seconds per call of step_fn after warm-up (and compilation)."""
    for _ in range(warmup):
        step_fn()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step_fn()
    sync(device)
    return (time.perf_counter() - t) / steps


def trainer(model, loss_of_batch, device):
    """One AdamW step (bf16 autocast on CUDA) as a closure, the way the shared training loop takes it."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_of_batch(model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def line(study, what, device, seconds, *, samples=None, tokens=None, params=None, steps=None, jobs=1,
         scale="paper", **extra) -> dict:
    out = {"study": study, "what": what, "device": device.type, "scale": scale, "ms_per_step": seconds * 1e3}
    if device.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name()
    if samples:
        out["samples_per_s"] = samples / seconds
    if tokens:
        out["tokens_per_s"] = tokens / seconds
    if params and tokens and device.type == "cuda":
        peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in out["device_name"]), None)
        if peak:
            out["mfu"] = 6 * params * tokens / seconds / 1e12 / peak
    if steps:
        out["projected_minutes"] = seconds * steps * jobs / 60
        out["jobs"] = jobs
    return {**out, **extra}


# ---------------------------------------------------------------------------------------------- studies
def dual_modes(dev, quick):
    from repro.models.gpt import GPT
    from repro.studies.dual_modes import data as P
    from repro.studies.dual_modes import train as T

    cfg = cfg_of("dual_modes", "small" if quick else "paper")["transformer"]
    prior = T.prior_from_config(cfg).to(dev)
    model = GPT(T.model_config(3, cfg["num_k"], cfg["n_layer"], cfg["n_head"], cfg["d_model"])).to(dev)
    g = torch.Generator(device=dev).manual_seed(0)

    def loss(m):
        X, Y = P.sample_pretraining(prior, cfg["batch"], cfg["num_k"], g)
        return F.mse_loss(T.predict(m, X, Y).float(), Y)
    s = per_step(trainer(model, loss, dev), dev, 3 if quick else 20)
    n_params = sum(p.numel() for p in model.parameters())
    return [line("dual_modes", f"transformer train step ({cfg['n_layer']}L/{cfg['d_model']})", dev, s,
                 samples=cfg["batch"], tokens=cfg["batch"] * 2 * cfg["num_k"], params=n_params,
                 steps=cfg["steps"], jobs=len({str(d) for d in [cfg["delta"], *cfg.get("fig9_deltas", [])]}),
                 scale="small" if quick else "paper")]  # one run per Figure-9 prior


def entp(dev, quick):
    from repro.studies.entp import data as D
    from repro.studies.entp.model import make_model, next_token_logits

    cfg = cfg_of("entp", "small" if quick else "paper")["count3"]
    pos = torch.tensor(D.count3_positions(cfg["block"], cfg["seed_len"]), device=dev)
    g = torch.Generator(device=dev).manual_seed(0)
    x = D.count3(cfg["batch"], cfg["block"], cfg["seed_len"], cfg["vocab"], g, dev)
    out = []
    for name, mc in cfg["models"].items():
        torch.manual_seed(0)
        model = make_model(mc["arch"], mc["n_layer"], mc["n_head"], mc["d_model"], cfg["vocab"], cfg["block"]).to(dev)
        buckets = cfg["buckets"] if mc["arch"] == "encoder" else 1

        def loss(m, buckets=buckets):
            logits = next_token_logits(m, x[:, :-1], pos, buckets)
            return F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:][:, pos].flatten())
        s = per_step(trainer(model, loss, dev), dev, 3 if quick else 10)
        # an encoder step processes every prefix: about (block - seed_len) / 2 times a decoder's tokens
        n_tok = cfg["batch"] * cfg["block"] * (len(pos) / 2 if mc["arch"] == "encoder" else 1)
        out.append(line("entp", f"count3 train step, {name} ({mc['arch']} {mc['n_layer']}L/{mc['d_model']})", dev, s,
                        samples=cfg["batch"], tokens=n_tok, params=sum(p.numel() for p in model.parameters()),
                        steps=cfg["steps"], scale="small" if quick else "paper"))
        if mc["arch"] == "encoder":  # the paper's code: one forward of the truncated prefix per target position
            def loop(m):
                logits = torch.stack([m(x[:, : t + 1])[:, t] for t in pos.tolist()], 1)
                return F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:][:, pos].flatten())
            s_loop = per_step(trainer(model, loop, dev), dev, 1 if quick else 3, warmup=1)
            out.append(line("entp", f"count3 train step, {name} as the paper's per-position loop", dev, s_loop,
                            samples=cfg["batch"], scale="small" if quick else "paper",
                            batched_speedup=s_loop / s))
    # addition by the ENTP repository's objective: packed blocks, a loss on every character (the encoder runs
    # every prefix of every block)
    add = cfg_of("entp", "small" if quick else "paper")["addition"]
    lm, mc = add["lm"], add["model"]
    x = torch.randint(0, D.ADD_VOCAB, (lm["batch"], lm["block"] + 1), generator=g, device=dev)
    every = torch.arange(lm["block"], device=dev)
    n_jobs = len(add["formats"]) * len(add["n_train"]) * len(add["seeds"])
    for arch in ("encoder", "decoder"):
        torch.manual_seed(0)
        model = make_model(arch, mc["n_layer"], mc["n_head"], mc["d_model"], D.ADD_VOCAB, lm["block"]).to(dev)

        def lm_loss(m):
            logits = next_token_logits(m, x[:, :-1], every, add["buckets"])
            return F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        s = per_step(trainer(model, lm_loss, dev), dev, 3 if quick else 10)
        n_tok = lm["batch"] * lm["block"] * (lm["block"] / 2 if arch == "encoder" else 1)
        out.append(line("entp", f"addition train step, every character, {arch} {mc['n_layer']}L/{mc['d_model']} "
                        f"(batch {lm['batch']} x block {lm['block']})", dev, s, samples=lm["batch"], tokens=n_tok,
                        params=sum(p.numel() for p in model.parameters()), steps=lm["steps"], jobs=n_jobs,
                        scale="small" if quick else "paper"))
    return out


def ftc(dev, quick):
    from repro.studies.ftc import trained as T

    cfg = cfg_of("ftc", "small" if quick else "paper")["trained"]
    K = max(p.get("K", 0) for p in cfg["problems"]) or 4096
    d = max(p["d"] for p in cfg["problems"])
    m = 256 if quick else 1024
    net = T.make_net(d, m, 3).to(dev)
    x, y = torch.randn(K, d, device=dev), torch.randn(K, device=dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    def step():
        loss = ((net(x)[:, 0] - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    s = per_step(step, dev, 20 if quick else 100)
    tries = len(cfg["Ns"]) * len(cfg["seeds"]) * len(cfg["problems"]) * 2 * 10  # ~10 fits per search, 2 depths
    return [line("ftc", f"trained-width fit step (full-batch Adam, K={K}, d={d}, 3-layer m={m}; projection is an "
                        "upper bound: fits stop early on success)", dev, s,
                 samples=K, steps=cfg["steps"], jobs=tries, scale="small" if quick else "paper")]


def multibin_batching(dev, quick):
    import numpy as np

    from repro.studies.multibin_batching import llm as L
    from repro.studies.multibin_batching import simulate as S
    from repro.studies.multibin_batching import theory as Th

    cfg = cfg_of("multibin_batching", "small" if quick else "paper")
    n = cfg["load"]["n_requests"]
    rng = np.random.default_rng(0)
    length = rng.uniform(1, 100, n)
    t = time.perf_counter()
    S.simulate(S.poisson_arrivals(n, 0.1, rng), length, length, Th.equal_mass_boundaries(Th.Uniform(1, 100), 4), 16)
    sim = time.perf_counter() - t
    out = [line("multibin_batching", f"simulate {n} requests (k=4, B=16)", torch.device("cpu"), sim,
                samples=n, scale="small" if quick else "paper")]
    llm = cfg["llm"]
    model, prompt, eos = L.load(llm["model"], dev, llm["dtype"] if dev.type == "cuda" else "float32")
    B = llm["B"]
    s = L.step_time(model, prompt, eos, B, 16 if quick else llm["step_tokens"], repeats=2)
    mean_max = llm["lengths"][1]  # k = 1 batches run about max-length steps
    decode_steps = llm["repeats"] * len(llm["ks"]) * (llm["n_requests"] / B) * mean_max
    out.append(line("multibin_batching", f"{llm['model']} decode step, B={B}", dev, s, tokens=B,
                    steps=decode_steps, scale="small" if quick else "paper"))
    return out


def task_vectors(dev, quick):
    from repro.models.gpt import GPT
    from repro.studies.task_vectors import data as D
    from repro.studies.task_vectors import train as T

    cfg = cfg_of("task_vectors", "small" if quick else "paper")
    task, tr = cfg["task"], cfg["train"]
    name, mc = next((k, v) for k, v in cfg["models"].items() if "tvp_layer" in v)
    model = GPT(T.model_config(task, mc, task["k"])).to(dev)
    g = torch.Generator(device=dev).manual_seed(0)
    discrete = task["family"] == "offset"

    def loss(m):
        return T.losses(m, D.batch(task, tr["batch"], task["k"], g), discrete, mc["tvp_layer"])[0]
    s = per_step(trainer(model, loss, dev), dev, 3 if quick else 20)
    tokens = tr["batch"] * (3 * task["k"] + 2)
    return [line("task_vectors", f"TVP-loss train step ({name}, {mc['n_layer']}L/{mc['d_model']})", dev, s,
                 samples=tr["batch"], tokens=tokens, params=sum(p.numel() for p in model.parameters()),
                 steps=tr["steps"], jobs=len(cfg["models"]) * len(cfg["seeds"]), scale="small" if quick else "paper")]


def task_superposition(dev, quick):
    import random

    from repro.models.gpt import GPT
    from repro.studies.task_superposition import data as D
    from repro.studies.task_superposition import llm as L
    from repro.studies.task_superposition import scratch as S

    cfg = cfg_of("task_superposition", "small" if quick else "paper")
    sc, scale = cfg["scratch"], "small" if quick else "paper"
    out = []
    for name, spec in sc["models"].items():
        tr = {**sc["train"], **spec.get("train", {})}
        model = GPT(S.model_config(spec["task"], sc["n_demos"], sc["model"])).to(dev)
        g = torch.Generator(device=dev).manual_seed(0)

        def loss(m, spec=spec, tr=tr):
            batch = D.train_batch(spec["task"], tr["batch"], sc["n_demos"] + 1, g, dev, spec.get("skew"))
            return S.answer_loss(m, batch)
        s = per_step(trainer(model, loss, dev), dev, 3 if quick else 10)
        tokens = tr["batch"] * (sc["n_demos"] + 1) * D.example_len(spec["task"])
        out.append(line("task_superposition", f"single-task train step, {name} ({sc['model']['n_layer']}L/"
                        f"{sc['model']['d_model']}, batch {tr['batch']})", dev, s, samples=tr["batch"], tokens=tokens,
                        params=sum(p.numel() for p in model.parameters()), steps=tr["steps"], scale=scale))
    llm = cfg["llm"]
    model, encode = L.load(llm["model"], dev, llm["dtype"])
    rng, pool = random.Random(0), L.words()
    prompts = [L.mixed_prompt(["copyA", "copyB"], [llm["n_demos"] // 2] * 2, rng, pool) for _ in range(3)]
    L.score(model, encode, prompts[0].text, prompts[0].answers, dev)  # warm-up
    sync(dev)
    t = time.perf_counter()
    for pr in prompts[1:]:
        L.score(model, encode, pr.text, pr.answers, dev)
    sync(dev)
    n_prompts = len(llm["tasks"]) * llm["screen"]["n_prompts"] + 2 * len(llm["shares"]) * llm["n_prompts"]
    out.append(line("task_superposition", f"{llm['model']} scores one mixed prompt ({llm['n_demos']} demos, 3 answers)",
                    dev, (time.perf_counter() - t) / (len(prompts) - 1), steps=n_prompts, scale=scale,
                    prompt_tokens=len(encode(prompts[0].text))))
    return out


def ssm_peft(dev, quick):
    from repro.models.mamba import MambaClassifier, MambaConfig
    from repro.studies.ssm_peft import data as D
    from repro.studies.ssm_peft import experiments as E
    from repro.studies.ssm_peft import methods as M

    scale = "small" if quick else "paper"
    cfg = cfg_of("ssm_peft", scale)
    syn, n_seeds, out = cfg["synthetic"], len(cfg["seeds"]), []
    for name in ("lora_ssm", "full"):
        spec = next(s for s in syn["methods"].values() if s["kind"] == name)
        frozen, target = E.s4_models(syn, 0, dev)
        prep = M.prepare_s4(frozen, spec)
        g = torch.Generator(device=dev).manual_seed(0)

        def loss(m, target=target, g=g):
            u = D.integer_inputs(g, syn["batch"], syn["frozen"]["d_model"], syn["length"], dev)
            return F.mse_loss(m(u), target(u))
        s = per_step(trainer(prep.model, loss, dev), dev, 3 if quick else 10)
        fz = syn["frozen"]
        out.append(line("ssm_peft", f"synthetic S4D step, {name} ({fz['n_layer']}x{fz['d_model']}x{fz['d_state']}, "
                        f"L={syn['length']}, batch {syn['batch']})", dev, s, samples=syn["batch"],
                        params=prep.n_trainable, steps=syn["steps"], jobs=n_seeds * len(syn["methods"]),
                        scale=scale))
    pre, ft = cfg["pretrain"], cfg["finetune"]
    length = 64 // pre["pixels_per_step"]
    model = MambaClassifier(MambaConfig(**pre["model"], d_in=pre["pixels_per_step"], n_classes=5)).to(dev)
    prep = M.prepare_mamba(model, {"kind": "lora", "targets": ["in_proj_x", "in_proj_z", "out_proj"], "r": 2})
    g = torch.Generator(device=dev).manual_seed(0)

    def ce(m):
        x = torch.rand(ft["batch"], length, pre["pixels_per_step"], generator=g, device=dev)
        return F.cross_entropy(m(x), torch.randint(0, 5, (ft["batch"],), generator=g, device=dev))
    s = per_step(trainer(prep.model, ce, dev), dev, 3 if quick else 10)
    m = pre["model"]
    out.append(line("ssm_peft", f"Mamba fine-tuning step, LoRA in/out ({m['n_layer']}L/{m['d_model']}/{m['d_inner']}/"
                    f"{m['d_state']}, L={length}, batch {ft['batch']})", dev, s, samples=ft["batch"],
                    tokens=ft["batch"] * length, steps=ft["steps"], jobs=n_seeds * len(ft["methods"]), scale=scale))
    return out


def fed_agem(dev, quick):
    import math

    from repro.models.classifier import build
    from repro.studies.fed_agem import algorithm as A
    from repro.studies.fed_agem import data as D
    from repro.studies.fed_agem import experiments as E

    scale = "small" if quick else "paper"
    cfg = cfg_of("fed_agem", scale)
    hp, out = cfg["train"], []
    # local steps of the whole grid: every scenario x method x seed, every client's batches of every round
    steps, runs = 0, len(E.grid(cfg["bases"], cfg["buffer_rules"])) * len(cfg["seeds"])
    for name in cfg["scenarios"]:
        sc = D.build(name, cfg["data"], 0)
        steps += runs * hp["rounds_per_task"] * hp["local_epochs"] * sum(
            math.ceil(len(y) / hp["batch_size"]) for t in sc.tasks for y in t.client_y)
    sc = E.on_device(D.build(cfg["scenarios"][0], cfg["data"], 0), dev)
    x, y = sc.tasks[0].client_x[0], sc.tasks[0].client_y[0]
    torch.manual_seed(0)
    model = build(cfg["model"], sc.input_shape, sc.n_classes).to(dev)
    vec = A.get_vector(model)
    ref = torch.randn_like(vec)
    buf = A.Reservoir(hp["buffer_size"])
    buf.add(x[: hp["buffer_size"]], y[: hp["buffer_size"]], model(x[: hp["buffer_size"]]).detach(),
            torch.Generator().manual_seed(0))
    # the dearest path: a replay gradient, two projections and a reservoir offer per step
    method = A.Method("agem", True, "reservoir")
    n_steps = math.ceil(len(y) / hp["batch_size"]) * hp["local_epochs"]

    def local_round():
        A.client_update(model, vec, x, y, buf, ref, method, hp, torch.Generator().manual_seed(0), (0,))
    s = per_step(local_round, dev, 2 if quick else 5, warmup=1) / n_steps
    out.append(line("fed_agem", f"local step, A-GEM + Fed-A-GEM ({cfg['model']['kind']}, {sc.source}, batch "
                    f"{hp['batch_size']}; projection: every local step of the grid)", dev, s,
                    samples=hp["batch_size"], params=vec.numel(), steps=steps, jobs=1, scale=scale))
    return out


def r2f(dev, quick):
    from repro.studies.r2f import diffusion as D
    from repro.studies.r2f import experiments as X
    from repro.studies.r2f import world as W

    scale = "small" if quick else "paper"
    cfg = cfg_of("r2f", scale)
    world, dc, sc = cfg["world"], cfg["denoiser"], cfg["sampling"]
    torch.manual_seed(0)
    model = X.build_denoiser({**dc, "size": world["size"]}).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    sched, _ = D.schedulers(dc["n_train_steps"])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(dc["batch"], 3, world["size"], world["size"], device=dev)
    cond = (torch.randint(0, 6, (dc["batch"],), device=dev), torch.randint(0, len(W.OBJECTS), (dc["batch"],), device=dev))
    few = 3 if quick or dev.type == "cpu" else 10
    s = per_step(trainer(model, lambda m: D.ddpm_loss(m, x, cond, sched, g), dev), dev, few)
    kind = f"{dc['kind']}, {n_params / 1e6:.2f}M params, {world['size']}x{world['size']}"
    out = [line("r2f", f"denoiser train step ({kind}, batch {dc['batch']})", dev, s, samples=dc["batch"],
                steps=dc["steps"], jobs=len(cfg["seeds"]), scale=scale)]
    # one guided DDIM step of R2F for every rare pair at once (conditional + unconditional prediction)
    n = sc["n_samples"] * len(world["rare"])
    xs = torch.randn(n, 3, world["size"], world["size"], device=dev)
    c = (torch.zeros(n, dtype=torch.long, device=dev), torch.zeros(n, dtype=torch.long, device=dev))
    null = (torch.full((n,), W.NULL_COLOUR, device=dev), torch.full((n,), W.NULL_OBJECT, device=dev))

    @torch.no_grad()
    def guided():  # fp32, as the sample rule runs
        D.cfg(model(xs, torch.tensor(10, device=dev), c), model(xs, torch.tensor(10, device=dev), null), 3.0)
    s = per_step(guided, dev, few)
    runs = len(sc["methods"]) + len(sc["stop_fracs"]) + 2 * (len(world.get("ladder", {})) + len(sc["frequent_pairs"])) \
        / len(world["rare"])  # the curve's pairs, vanilla and forced R2F, in units of a rare-pair run
    out.append(line("r2f", f"guided sampling step, every rare pair at once ({n} images)", dev, s, samples=n,
                    steps=sc["sample_steps"] * runs, jobs=len(cfg["seeds"]), scale=scale))
    return out


def kv_retrieval(dev, quick):
    from repro.studies.kv_retrieval import finetune as FT
    from repro.studies.kv_retrieval import model as M

    scale = "small" if quick else "paper"
    cfg = cfg_of("kv_retrieval", scale)
    dc, fc = cfg["data"], cfg["finetune"]
    model, tok = M.load(cfg["model"], dev)
    examples, rows = FT.training_set("template", tok, {**dc, "n_train": fc["batch"]}, 0)
    if fc["method"] == "lora":
        model = M.add_lora(model, fc["r"], fc["alpha"], fc["top_layers"])
    else:
        model.train()
    batch = tuple(t.to(dev) for t in FT.pad_right(examples, tok.pad_token_id))
    step = trainer(model, lambda m: FT.answer_loss(m, batch), dev)
    s = per_step(step, dev, 2 if quick or dev.type == "cpu" else 10, warmup=1)
    steps = FT.n_steps(dc["n_train"], fc["epochs"], fc["batch"])
    tokens = int(batch[1].sum())
    out = [line("kv_retrieval", f"fine-tuning step ({fc['method']}, batch {fc['batch']} x {batch[0].shape[1]} tokens, "
                f"{dc['n_dicts']} dictionaries)", dev, s, samples=fc["batch"], tokens=tokens,
                params=sum(p.numel() for p in model.parameters()), steps=steps,
                jobs=len(cfg["seeds"]) * len(cfg["arms"]), scale=scale)]
    return out


STUDIES = {"dual_modes": dual_modes, "ftc": ftc, "entp": entp, "multibin_batching": multibin_batching,
           "task_vectors": task_vectors, "task_superposition": task_superposition, "ssm_peft": ssm_peft,
           "fed_agem": fed_agem, "r2f": r2f, "kv_retrieval": kv_retrieval}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--quick", action="store_true", help="small-scale models (for a CPU)")
    ap.add_argument("--only", nargs="*", choices=sorted(STUDIES), help="measure these studies only")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    a = ap.parse_args(argv)
    dev = resolve_device(a.device)
    for study in a.only or STUDIES:
        t = time.perf_counter()
        for rec in STUDIES[study](dev, a.quick):
            text = json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.items()})
            print(text, flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(text + "\n")
        print(f"[benchmarks] {study}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
