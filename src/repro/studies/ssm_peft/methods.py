"""The PEFT methods compared in ssm_peft, applied to a model in place, and their trainable-parameter counts.

LoRA is peft's (`inject_adapter_in_model`): on `nn.Linear` modules by `target_modules`, and on the S4D's raw
SSM matrices by `target_parameters`. Sparse dimension tuning (SDT) is this project's code: a warmup run whose
weight changes rank the channels and states, a reset to the pretrained weights, then training of the chosen
entries only, enforced by gradient masks (Adam moves an entry whose gradient is always zero by exactly zero,
so masked-out entries stay bit-identical; weight decay must be 0, which every fine-tuning run in experiments.py
passes explicitly).

Every `prepare_*` freezes the whole model, then turns on what the method trains, and returns a `Prepared`
whose `n_trainable` counts a masked parameter by its selected entries only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from repro.models.mamba import MambaClassifier
from repro.models.s4d import SSM_MATRICES, DeepS4D

S4_KINDS = ("frozen", "lora_proj", "lora_ssm", "sdt", "full")
MAMBA_KINDS = ("head", "bitfit", "prompt", "init_state", "lora", "sdt", "full")
MAMBA_LINEARS = ("in_proj_x", "in_proj_z", "x_proj_dt", "x_proj_B", "x_proj_C", "dt_proj", "out_proj")


@dataclass
class Prepared:
    model: nn.Module
    n_total: int  # parameters of the base model (adapters excluded): the denominator of "trainable %"
    masks: list = field(default_factory=list)  # (parameter, 0/1 mask of the entries it may change)

    @property
    def n_trainable(self) -> int:
        masked = {id(p): m for p, m in self.masks}
        return int(sum(masked[id(p)].sum().item() if id(p) in masked else p.numel()
                       for p in self.model.parameters() if p.requires_grad))

    def hook_masks(self) -> None:
        """Zero the gradient outside each mask, so only the selected entries ever change."""
        for p, m in self.masks:
            p.register_hook(lambda g, m=m: g * m)


def freeze(model: nn.Module) -> int:
    for p in model.parameters():
        p.requires_grad_(False)
    return sum(p.numel() for p in model.parameters())


def lora(model: nn.Module, r: int, modules=(), parameters=(), module_r: int | None = None) -> nn.Module:
    """peft LoRA (alpha = rank: scale 1, no dropout) on the named linear modules and raw parameters, in one
    injection (peft finds no target in a model it has already wrapped); `module_r` sets the modules' rank
    apart from the parameters' `r`."""
    from peft import LoraConfig, inject_adapter_in_model  # here: importing peft takes ~10 s (transformers' auto)

    ranks = {m: module_r for m in modules} if module_r is not None else {}
    cfg = LoraConfig(r=r, lora_alpha=r, lora_dropout=0.0, target_modules=list(modules) or None,
                     target_parameters=list(parameters) or None, rank_pattern=ranks,
                     alpha_pattern=dict(ranks))
    return inject_adapter_in_model(cfg, model)


def train_(*params) -> None:
    for p in params:
        p.requires_grad_(True)


# --- deep S4D (synthetic frozen -> target regression) ---------------------------------------------------

def prepare_s4(model: DeepS4D, spec: dict, masks: list | None = None) -> Prepared:
    """`spec['kind']` in S4_KINDS. Every method trains the output biases (the "frozen" baseline trains only
    those); lora_ssm and sdt also train every channel's log_dt and D. `masks` (sdt): per layer, the (H, N)
    0/1 mask of the (channel, state) pairs whose A and C may change."""
    kind = spec["kind"]
    if kind not in S4_KINDS:
        raise ValueError(f"S4 method kind must be one of {S4_KINDS}, got {kind!r}")
    layers = list(model.layers)
    n_total = freeze(model)
    out = Prepared(model, n_total)
    if kind == "sdt" and (masks is None or len(masks) != len(layers)):
        raise ValueError("sdt needs one selection mask per layer")
    # LoRA first: peft's injection leaves only adapters trainable
    if kind == "lora_proj":
        lora(model, spec["r"], modules=["output_linear"])
    elif kind == "lora_ssm":
        lora(model, spec["r"], modules=["output_linear"], parameters=SSM_MATRICES, module_r=spec["r_proj"])
    elif kind == "sdt":
        lora(model, spec["r_proj"], modules=["output_linear"])
    if kind == "full":
        train_(*model.parameters())
        return out
    for i, layer in enumerate(layers):
        train_(layer.output_linear.bias)
        if kind in ("lora_ssm", "sdt"):
            train_(layer.log_dt, layer.D)
        if kind == "sdt":
            for name in SSM_MATRICES:
                p = getattr(layer, name)
                train_(p)
                out.masks.append((p, masks[i].to(p.dtype)))
    return out


def s4_formula(spec: dict, n_layer: int, h: int, n: int) -> int:
    """Trainable parameters of `prepare_s4`, in closed form (the tests hold the code to it)."""
    kind, bias, dt_d = spec["kind"], h, 2 * h
    per_layer = {
        "frozen": bias,
        "lora_proj": bias + spec.get("r", 0) * 2 * h,
        "lora_ssm": bias + dt_d + spec.get("r", 0) * len(SSM_MATRICES) * (h + n) + spec.get("r_proj", 0) * 2 * h,
        "sdt": bias + dt_d + len(SSM_MATRICES) * spec.get("channels", 0) * spec.get("states", 0)
               + spec.get("r_proj", 0) * 2 * h,
        "full": bias + dt_d + h * h + len(SSM_MATRICES) * h * n,
    }[kind]
    return n_layer * per_layer


def kernel_contribution(layer, length: int) -> torch.Tensor:
    """|Cbar exp(dt A L/2)| per (channel, state): how much each state adds to the kernel at half the length."""
    with torch.no_grad():
        dtA = layer.A() * torch.exp(layer.log_dt)[:, None]
        return (layer.C_bar() * torch.exp(dtA * (length / 2))).abs()


def top_k_mask(scores: torch.Tensor, k: int, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """0/1 mask of the k largest scores along the last dimension (only among `allowed` entries)."""
    s = scores.clone()
    if allowed is not None:
        s[~allowed.bool()] = -torch.inf
    idx = s.topk(k, dim=-1).indices
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, idx, True)


def select_s4(frozen: DeepS4D, warm: DeepS4D, length: int, select: dict, update: dict, sign: str = "fixed"):
    """SDT's dimension selection on a deep S4D (the paper's `hard` mode with magnitude warmup).

    Usable dimensions: channels ranked by the norm of their kernel contribution at L/2, then states within each
    kept channel. Updatable dimensions: among usable ones, channels ranked by ||A_warm - A_frozen|| (real and
    imaginary parts), then states. `sign='upstream'` reproduces the released code's bug, where the frozen real
    part enters as +exp(logA) so the "change" is about -2 exp(logA), a magnitude; 'fixed' uses -exp(logA).
    Returns per layer (usable, updatable) boolean (H, N) masks.
    """
    if sign not in ("fixed", "upstream"):
        raise ValueError(f"sign must be 'fixed' or 'upstream', got {sign!r}")
    if update["channels"] > select["channels"] or update["states"] > select["states"]:
        raise ValueError(f"updatable dimensions {update} must lie within the usable ones {select}")
    out = []
    for f, w in zip(frozen.layers, warm.layers):
        contrib = kernel_contribution(w, length)
        channels = top_k_mask(contrib.norm(dim=1), select["channels"])
        usable = channels[:, None] & top_k_mask(contrib, select["states"])
        with torch.no_grad():
            frozen_re = -torch.exp(f.logA_re) if sign == "fixed" else torch.exp(f.logA_re)
            d_re = -torch.exp(w.logA_re) - frozen_re
            d_im = w.A_im - f.A_im
            change = torch.sqrt(d_re**2 + d_im**2) * usable
        upd_channels = top_k_mask(change.norm(dim=1), update["channels"], allowed=channels)
        updatable = upd_channels[:, None] & top_k_mask(change, update["states"], allowed=usable) & usable
        out.append((usable, updatable))
    return out


def zero_unusable(model: DeepS4D, usable_masks) -> None:
    """Selection's other half: C is zeroed on the channels and states found not usable."""
    with torch.no_grad():
        for layer, m in zip(model.layers, usable_masks):
            layer.C_re.mul_(m)
            layer.C_im.mul_(m)


# --- Mamba (pretrained classifier, fine-tuned on a shifted task) ------------------------------------------

def prepare_mamba(model: MambaClassifier, spec: dict, masks: dict | None = None) -> Prepared:
    """`spec['kind']` in MAMBA_KINDS; the (new) head always trains. `masks` (sdt): per layer index, the
    (d_inner, d_state) 0/1 mask of A_log entries and the (d_inner,) 0/1 mask of selected channels, whose
    x_proj_B / x_proj_C columns (every state) train."""
    kind = spec["kind"]
    if kind not in MAMBA_KINDS:
        raise ValueError(f"Mamba method kind must be one of {MAMBA_KINDS}, got {kind!r}")
    blocks = [layer.mixer for layer in model.layers]
    n_total = freeze(model)
    out = Prepared(model, n_total)
    if kind == "sdt" and masks is None:
        raise ValueError("sdt needs the selection masks")
    # LoRA first: peft's injection leaves only adapters trainable
    if kind in ("lora", "sdt"):
        targets = spec.get("targets", ["out_proj"])
        unknown = set(targets) - set(MAMBA_LINEARS)
        if unknown:
            raise ValueError(f"LoRA targets {sorted(unknown)} are not Mamba projections {MAMBA_LINEARS}")
        lora(model, spec["r"], modules=targets)
    train_(*model.head.parameters())
    if kind == "full":
        train_(*model.parameters())
    elif kind == "bitfit":
        for b in blocks:
            train_(b.conv1d.bias, b.dt_proj.bias)
    elif kind == "prompt":
        model.prompt = nn.Parameter(0.1 * torch.randn(spec["n_prompt"], model.cfg.d_model,
                                                      device=model.head.weight.device))
    elif kind == "init_state":
        for b in blocks:
            b.init_state = nn.Parameter(torch.zeros_like(b.A_log))
    elif kind == "sdt":
        for i, b in enumerate(blocks):
            state_mask, channel_mask = masks[i]
            train_(b.A_log, b.x_proj_B.weight, b.x_proj_C.weight)
            out.masks += [(b.A_log, state_mask.float()),
                          (b.x_proj_B.weight, channel_mask.float().expand_as(b.x_proj_B.weight)),
                          (b.x_proj_C.weight, channel_mask.float().expand_as(b.x_proj_C.weight))]
    return out


def mamba_formula(spec: dict, cfg) -> int:
    """Trainable parameters of `prepare_mamba`, in closed form."""
    d, n, m, r = cfg.d_inner, cfg.d_state, cfg.d_model, spec.get("r", 0)
    head = (m + 1) * cfg.n_classes
    shapes = {"in_proj_x": (m, d), "in_proj_z": (m, d), "x_proj_dt": (d, cfg.dt_rank), "x_proj_B": (d, n),
              "x_proj_C": (d, n), "dt_proj": (cfg.dt_rank, d), "out_proj": (d, m)}
    kind = spec["kind"]
    if kind == "full":
        per_layer = (2 * m * d + d * cfg.d_conv + d + d * cfg.dt_rank + 2 * d * n + cfg.dt_rank * d + d
                     + d * n + d + d * m + m)
        return cfg.n_layer * per_layer + (cfg.d_in + 1) * m + m + head
    if kind == "head":
        return head
    if kind == "bitfit":
        return head + cfg.n_layer * 2 * d
    if kind == "prompt":
        return head + spec["n_prompt"] * m
    if kind == "init_state":
        return head + cfg.n_layer * d * n
    lora_part = sum(r * sum(shapes[t]) for t in spec.get("targets", ["out_proj"]))
    if kind == "lora":
        return head + cfg.n_layer * lora_part
    k_ch, k_st = sdt_counts(spec, cfg)
    return head + cfg.n_layer * (lora_part + k_ch * k_st + 2 * n * k_ch)


def sdt_counts(spec: dict, cfg) -> tuple[int, int]:
    """Channels kept per layer and states kept per channel: fractions of d_inner and d_state, at least 1."""
    return (max(1, round(spec["channels"] * cfg.d_inner)), max(1, round(spec["states"] * cfg.d_state)))


def select_mamba(pretrained: MambaClassifier, warm: MambaClassifier, k_channels: int, k_states: int) -> dict:
    """SDT's selection from the warmup's change of A_log, dA: channels by sum_n dA^2, then states by dA^2.
    Returns {layer: (state mask (d_inner, d_state), channel mask (d_inner,))}."""
    out = {}
    for i, (p, w) in enumerate(zip(pretrained.layers, warm.layers)):
        with torch.no_grad():
            change = (w.mixer.A_log - p.mixer.A_log) ** 2
        if not change.any():
            raise ValueError(f"layer {i}: the warmup did not change A_log; nothing to select by")
        channels = top_k_mask(change.sum(1), k_channels)
        out[i] = (channels[:, None] & top_k_mask(change, k_states), channels)
    return out
