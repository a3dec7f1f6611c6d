"""ssm_peft experiments, one table row per (method, seed).

synthetic: a random deep S4D (frozen) is fine-tuned by each method to match a smaller random S4D (target)
on fresh randint(0, 10) inputs every step; test MSE on a held-out batch.
pretrain / finetune: a small Mamba learns to classify digits 0-4 from pixel sequences; each method then
adapts it to digits 5-9 with a new head; test accuracy on held-out images of 5-9.
"""

from __future__ import annotations

import copy

import pandas as pd
import torch
import torch.nn.functional as F

from repro.core.overlap import exact_overlap
from repro.core.train import TrainConfig, fit
from repro.models.mamba import MambaClassifier, MambaConfig
from repro.models.s4d import SSM_MATRICES, DeepS4D, S4DConfig
from repro.studies.ssm_peft import data as D
from repro.studies.ssm_peft import methods as M

PRETRAIN_CLASSES, FINETUNE_CLASSES = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)


# --- synthetic deep S4D ----------------------------------------------------------------------------------

def s4_models(cfg: dict, seed: int, device) -> tuple[DeepS4D, DeepS4D]:
    g = torch.Generator().manual_seed(seed)
    frozen = DeepS4D(S4DConfig(**cfg["frozen"]), g)
    target = DeepS4D(S4DConfig(n_layer=cfg["target"]["n_layer"], d_model=cfg["frozen"]["d_model"],
                               d_state=cfg["target"]["d_state"]), g)
    return frozen.to(device), target.to(device).requires_grad_(False)


def _s4_batch(cfg, target, device):
    def batch(g):
        u = D.integer_inputs(g, cfg["batch"], cfg["frozen"]["d_model"], cfg["length"], device)
        return u, target(u)
    return batch


def _mse(model, batch):
    u, y = batch
    return F.mse_loss(model(u), y)


def s4_warmup(frozen: DeepS4D, target: DeepS4D, cfg: dict, seed: int, device) -> DeepS4D:
    """SDT's warmup: a copy of the frozen model with only its SSM parameters trained for a few steps."""
    warm = copy.deepcopy(frozen)
    M.freeze(warm)
    for layer in warm.layers:
        M.train_(layer.log_dt, *(getattr(layer, n) for n in SSM_MATRICES))
    w = cfg["warmup"]
    fit(warm, _s4_batch(cfg, target, device), _mse, TrainConfig(steps=w["steps"], lr=w["lr"], grad_clip=None,
        weight_decay=0.0, min_lr_ratio=1.0, log_every=w["steps"]), seed=seed + 10_000, device=device,
        desc="ssm_peft/s4 warmup")
    return warm


def best_so_far(losses) -> tuple[float, int]:
    """The lowest per-step training loss and the step (1-based) that reached it: run_s4.py's `best_loss`, the
    quantity the paper's synthetic figure plots (s4_plot.ipynb `get_loss`)."""
    values = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in losses]).nan_to_num(nan=float("inf"))
    i = int(torch.argmin(values))  # a step whose loss is NaN never counts as the best (run_s4.py: `loss < best`)
    return float(values[i]), i + 1


def synthetic(cfg: dict, seed: int, device, desc: str = "ssm_peft/synthetic") -> pd.DataFrame:
    """Every method of `cfg['methods']` on one (frozen, target) pair drawn from `seed`, once per configuration
    (a learning rate of `cfg['lrs']`: every method gets the same K = len(lrs) configurations). One row per
    (method, configuration): its best-so-far training MSE (the minimum over steps, the paper's protocol) and
    its final MSE on held-out inputs. Every configuration sees the same batches (the seed's)."""
    frozen, target = s4_models(cfg, seed, device)
    test_g = torch.Generator(device=device).manual_seed(10**6 + seed)  # never a training step's generator
    u_test = D.integer_inputs(test_g, cfg["eval_batch"], cfg["frozen"]["d_model"], cfg["length"], device)
    with torch.no_grad():
        y_test = target(u_test)
        mse_frozen = F.mse_loss(frozen(u_test), y_test).item()
    warm = s4_warmup(frozen, target, cfg, seed, device) if any(
        s["kind"] == "sdt" for s in cfg["methods"].values()) else None
    fz = cfg["frozen"]
    rows = []
    for name, spec in cfg["methods"].items():
        sel = (M.select_s4(frozen, warm, cfg["length"], cfg["select"], spec, spec.get("sign", "fixed"))
               if spec["kind"] == "sdt" else None)  # selection depends on the warmup only, not on the lr
        for k, lr in enumerate(cfg["lrs"]):
            model, masks = copy.deepcopy(frozen), None
            if sel is not None:
                M.zero_unusable(model, [u for u, _ in sel])
                masks = [upd for _, upd in sel]
            prep = M.prepare_s4(model, spec, masks)
            if prep.n_trainable != M.s4_formula(spec, fz["n_layer"], fz["d_model"], fz["d_state"]):
                raise RuntimeError(f"{name}: {prep.n_trainable} trainable parameters, not the formula's count")
            prep.hook_masks()
            losses = []

            def loss_fn(m, batch, losses=losses):
                loss = _mse(m, batch)
                losses.append(loss.detach())
                return loss

            fit(prep.model, _s4_batch(cfg, target, device), loss_fn,
                TrainConfig(steps=cfg["steps"], lr=lr, grad_clip=None, weight_decay=0.0, min_lr_ratio=1.0,
                            log_every=max(1, cfg["steps"] // 10)),
                seed=seed, device=device, desc=f"{desc}/{name}/lr{lr:g}")
            best, best_step = best_so_far(losses)
            with torch.no_grad():
                mse = F.mse_loss(prep.model(u_test), y_test).item()
            sign = spec.get("sign", "fixed") if spec["kind"] == "sdt" else ""
            rows.append({"seed": seed, "method": name, "kind": spec["kind"], "sign": sign, "config": k, "lr": lr,
                         "n_trainable": prep.n_trainable, "n_total": prep.n_total,
                         "trainable_pct": 100 * prep.n_trainable / prep.n_total, "mse": mse,
                         "mse_frozen": mse_frozen, "best_train_loss": best, "best_step": best_step,
                         "train_loss_final": float(losses[-1]), "target_var": y_test.var().item()})
    return pd.DataFrame(rows)


# --- Mamba on digits ---------------------------------------------------------------------------------

def _class_batch(x, y, batch, device):
    x, y = x.to(device), y.to(device)

    def draw(g):
        idx = torch.randint(0, len(x), (batch,), generator=g, device=device)
        return x[idx], y[idx]
    return draw


def _ce(model, batch):
    x, y = batch
    return F.cross_entropy(model(x), y)


def accuracy(model, x, y, device, batch: int = 512) -> float:
    model.eval()
    hits = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            hits += (model(x[i:i + batch].to(device)).argmax(-1).cpu() == y[i:i + batch]).sum().item()
    return hits / len(x)


def pretrain(cfg: dict, seed: int, device, split_seed: int, state_path=None, run_hash: str = "") -> tuple:
    """Train the Mamba classifier on digits 0-4. Returns (model, history, summary row)."""
    (x_tr, y_tr), (x_te, y_te) = D.digits(PRETRAIN_CLASSES, cfg["test_frac"], cfg["pixels_per_step"], split_seed)
    torch.manual_seed(seed)
    model = MambaClassifier(MambaConfig(**cfg["model"], d_in=cfg["pixels_per_step"],
                                        n_classes=len(PRETRAIN_CLASSES))).to(device)
    t = cfg["train"]
    history = fit(model, _class_batch(x_tr, y_tr, t["batch"], device), _ce,
                  TrainConfig(steps=t["steps"], lr=t["lr"], warmup=t["warmup"], min_lr_ratio=0.1,
                              weight_decay=t["weight_decay"], save_every=t["save_every"]),
                  seed=seed, device=device, state_path=state_path, run_hash=run_hash,
                  samples_per_batch=t["batch"], desc="ssm_peft/pretrain")
    summary = {"test_accuracy": accuracy(model, x_te, y_te, device), "n_train": len(x_tr), "n_test": len(x_te),
               "overlap": exact_overlap(x_tr, x_te), "n_params": sum(p.numel() for p in model.parameters())}
    return model, history, summary


def fresh_head(pretrained: MambaClassifier, n_classes: int, seed: int, device) -> MambaClassifier:
    """A copy of the pretrained model with a new, seeded head for the fine-tuning task."""
    model = copy.deepcopy(pretrained)
    torch.manual_seed(seed)
    model.head = torch.nn.Linear(model.cfg.d_model, n_classes).to(device)
    model.cfg = MambaConfig(**{**model.cfg.to_dict(), "n_classes": n_classes})
    return model


def finetune(pretrained: MambaClassifier, cfg: dict, seed: int, device, split_seed: int,
             desc: str = "ssm_peft/finetune") -> pd.DataFrame:
    """Every method of `cfg['methods']` from the same pretrained weights on digits 5-9."""
    (x_tr, y_tr), (x_te, y_te) = D.digits(FINETUNE_CLASSES, cfg["test_frac"], pretrained.cfg.d_in, split_seed)
    if cfg.get("n_train"):  # a fixed subset (smoke scale), the same for every method and seed
        keep = torch.randperm(len(x_tr), generator=torch.Generator().manual_seed(split_seed))[: cfg["n_train"]]
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    overlap = exact_overlap(x_tr, x_te)
    batches = _class_batch(x_tr, y_tr, cfg["batch"], device)
    rows = []
    for name, spec in cfg["methods"].items():
        model, masks, sel_info = fresh_head(pretrained, len(FINETUNE_CLASSES), seed, device), None, {}
        if spec["kind"] == "sdt":
            masks, sel_info = sdt_select(model, spec, batches, seed, device, f"{desc}/{name} warmup")
        prep = M.prepare_mamba(model, spec, masks)
        if prep.n_trainable != M.mamba_formula(spec, model.cfg):
            raise RuntimeError(f"{name}: {prep.n_trainable} trainable parameters, not the formula's count")
        prep.hook_masks()
        fit(prep.model, batches, _ce,
            TrainConfig(steps=cfg["steps"], lr=spec["lr"], warmup=cfg["warmup"], min_lr_ratio=0.1, weight_decay=0.0,
                        log_every=max(1, cfg["steps"] // 10)),
            seed=seed, device=device, samples_per_batch=cfg["batch"], desc=f"{desc}/{name}")
        rows.append({"seed": seed, "method": name, "kind": spec["kind"], "n_trainable": prep.n_trainable,
                     "n_total": prep.n_total, "trainable_pct": 100 * prep.n_trainable / prep.n_total,
                     "accuracy": accuracy(prep.model, x_te, y_te, device),
                     "train_accuracy": accuracy(prep.model, x_tr, y_tr, device),
                     "n_train": len(x_tr), "n_test": len(x_te), "overlap": overlap, **sel_info})
    return pd.DataFrame(rows)


def sdt_select(model: MambaClassifier, spec: dict, batches, seed: int, device, desc: str):
    """SDT warmup on a copy: a dense change of every A_log, trained with the method's LoRA and the head;
    then the masks. The copy is discarded: the real run restarts from the pretrained weights."""
    warm = copy.deepcopy(model)
    M.freeze(warm)
    M.lora(warm, spec["r"], modules=spec.get("targets", ["out_proj"]))  # first: peft leaves only adapters trainable
    M.train_(*warm.head.parameters(), *(layer.mixer.A_log for layer in warm.layers))
    fit(warm, batches, _ce, TrainConfig(steps=spec["warmup"], lr=spec["lr"], min_lr_ratio=1.0, weight_decay=0.0,
                                        log_every=spec["warmup"]), seed=seed + 10_000, device=device, desc=desc)
    k_ch, k_st = M.sdt_counts(spec, model.cfg)
    masks = M.select_mamba(model, warm, k_ch, k_st)
    return masks, {"sdt_channels": k_ch, "sdt_states": k_st}
