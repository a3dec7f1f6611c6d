"""Training and evaluation of encoder (ENTP) and decoder models on Count3 and addition.

Both architectures get the same parameters, steps, batch and schedule; only the attention pattern differs.
Metrics: token accuracy (fraction of scored next-token predictions that are right) and sequence accuracy
(fraction of sequences with every scored prediction right). For addition the sequence accuracy is measured by
greedy generation after "=", which equals teacher-forced sequence accuracy (a test checks that).
"""

from __future__ import annotations

import math

import pandas as pd
import torch
import torch.nn.functional as F

from repro.core.train import TrainConfig, epoch_batch, fit, step_generator, step_of
from repro.models.gpt import GPT
from repro.studies.entp import data as D
from repro.studies.entp.model import generate, make_model, next_token_logits


def accuracies(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> dict:
    """Token and sequence accuracy of (B, P) predictions; `valid` masks positions that are not scored."""
    valid = torch.ones_like(target, dtype=torch.bool) if valid is None else valid
    right = (pred == target) | ~valid
    return {"token_acc": float(((pred == target) & valid).sum() / valid.sum()),
            "seq_acc": float(right.all(1).float().mean())}


def train_config(cfg: dict) -> TrainConfig:
    return TrainConfig(steps=cfg["steps"], lr=cfg["lr"], weight_decay=cfg["weight_decay"], warmup=cfg["warmup"],
                       min_lr_ratio=cfg["min_lr_ratio"], log_every=cfg["eval_every"], save_every=cfg["save_every"],
                       compile=cfg.get("compile", False))


# ---------------------------------------------------------------------------------------------- Count3
# Streams derived from the run's seed at step indices training never reaches (step_generator(seed, step) seeds
# step `step`): the test set and the plateau sample move with the seed (and seed_set), never with a literal.
EVAL_STREAM, PLATEAU_STREAM = 1_000_002, 1_000_001
PLATEAU_SEQUENCES = 50_000  # plug-in entropy bias about (cells - 1) / (2 n): under 0.01 nats at block 32


def count3_eval_set(cfg: dict, device, seed: int) -> torch.Tensor:
    """A fixed test set of eval_sequences Count3 sequences whose seeds lie in the test part of the seed space,
    which training never draws from (data.is_test_seed). Models that share a seed share it (paired by seed)."""
    g = step_generator(seed, EVAL_STREAM, torch.device(device))
    return D.count3(cfg["eval_sequences"], cfg["block"], cfg["seed_len"], cfg["vocab"], g, device, split="test",
                    test_one_in=cfg["test_one_in"])


def count3_plateau(cfg: dict, device, seed: int) -> float:
    """The position-and-last-token plateau of Count3: the test loss (nats) of the best predictor that sees only
    the target's position n and the last token x_n, i.e. the mean over scored positions of the entropy
    H(x_{n+1} | n, x_n), estimated on PLATEAU_SEQUENCES fresh sequences. A model that learned nothing of the
    count sits at or above it; the competence gates measure how far below it a model got."""
    g = step_generator(seed, PLATEAU_STREAM, torch.device(device))
    x = D.count3(PLATEAU_SEQUENCES, cfg["block"], cfg["seed_len"], cfg["vocab"], g, device, split="train",
                 test_one_in=cfg["test_one_in"]).cpu()
    width = max(cfg["vocab"], cfg["block"] + 1)  # tokens: seed tokens < vocab, generated ones < block + 1
    ent = []
    for t in D.count3_positions(cfg["block"], cfg["seed_len"]):
        joint = torch.zeros(width * width, dtype=torch.float64)
        joint.index_add_(0, x[:, t] * width + x[:, t + 1], torch.ones(len(x), dtype=torch.float64))
        joint = joint.view(width, width)
        p_cond = joint / joint.sum(1, keepdim=True).clamp_min(1)
        ent.append(float(-(joint * torch.where(p_cond > 0, p_cond.log(), 0.0)).sum() / len(x)))
    return sum(ent) / len(ent)


def count3_overlap(cfg: dict, test: torch.Tensor) -> dict:
    """Measured train/test overlap and how much of its own part of the seed space training covers."""
    seeds = test[:, :cfg["seed_len"]]
    in_train_part = ~D.is_test_seed(seeds, cfg["vocab"], cfg["test_one_in"])
    space = cfg["vocab"] ** cfg["seed_len"] * (1 - 1 / cfg["test_one_in"])
    draws = cfg["steps"] * cfg["batch"]
    return {"test_seeds_in_train_part": float(in_train_part.float().mean()),
            "test_distinct_seeds": int(torch.unique(D.seed_ids(seeds, cfg["vocab"])).numel()),
            "train_space_covered": float(1 - math.exp(-draws / space))}  # expected share of distinct train seeds


@torch.no_grad()
def count3_metrics(model: GPT, seqs: torch.Tensor, cfg: dict, chunk: int = 256) -> dict:
    pos = torch.tensor(D.count3_positions(cfg["block"], cfg["seed_len"]), device=seqs.device)
    preds, loss = [], 0.0
    for s in seqs.split(chunk):
        logits = next_token_logits(model, s[:, :-1], pos, cfg["buckets"]).float()
        tgt = s[:, 1:][:, pos]
        loss += float(F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), reduction="sum"))
        preds.append(logits.argmax(-1))
    tgt = seqs[:, 1:][:, pos]
    return {"test_loss": loss / tgt.numel(), **accuracies(torch.cat(preds), tgt)}


def train_count3(cfg: dict, model_cfg: dict, *, seed: int, device, state_path=None, run_hash: str = "",
                 desc: str = "entp/count3") -> tuple[GPT, pd.DataFrame]:
    """Fresh Count3 samples every step; the history holds loss, token and sequence accuracy over steps."""
    torch.manual_seed(seed)
    model = make_model(model_cfg["arch"], model_cfg["n_layer"], model_cfg["n_head"], model_cfg["d_model"],
                       cfg["vocab"], cfg["block"])
    pos = torch.tensor(D.count3_positions(cfg["block"], cfg["seed_len"]), device=device)
    test = count3_eval_set(cfg, device, seed)

    def batch_fn(g):
        return D.count3(cfg["batch"], cfg["block"], cfg["seed_len"], cfg["vocab"], g, device, split="train",
                        test_one_in=cfg["test_one_in"])

    def loss_fn(m, x):
        logits = next_token_logits(m, x[:, :-1], pos, cfg["buckets"])
        return F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:][:, pos].flatten())

    history = fit(model, batch_fn, loss_fn, train_config(cfg), seed=seed, device=device, state_path=state_path,
                  run_hash=run_hash, samples_per_batch=cfg["batch"], desc=desc,
                  evaluate=lambda m: count3_metrics(m, test, cfg), eval_every=cfg["eval_every"])
    return model, history.assign(**count3_overlap(cfg, test), plateau_loss=count3_plateau(cfg, device, seed))


# ---------------------------------------------------------------------------------------------- addition
def answer_positions(prompt_len: torch.Tensor, total_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, P) input positions scored per row (prompt_len-1 .. total_len-2) and their validity mask.

    Rows have different answer lengths; invalid slots repeat the row's last valid position and are masked.
    """
    n_ans = total_len - prompt_len  # answer digits + closing "$"
    P = int(n_ans.max())
    k = torch.arange(P, device=prompt_len.device)[None, :]
    valid = k < n_ans[:, None]
    pos = (prompt_len[:, None] - 1 + torch.minimum(k, n_ans[:, None] - 1))
    return pos, valid


@torch.no_grad()
def addition_metrics(model: GPT, split, buckets: int, chunk: int = 512) -> dict:
    """Teacher-forced token accuracy and loss, and exact-match accuracy of greedy generation."""
    tok, plen, tlen = split
    device = next(model.parameters()).device
    tok, plen, tlen = tok.to(device), plen.to(device), tlen.to(device)
    pos, valid = answer_positions(plen, tlen)
    n_new = int((tlen - plen).max())
    preds, gens, loss = [], [], 0.0
    for i in range(0, len(tok), chunk):
        sl = slice(i, i + chunk)
        logits = next_token_logits(model, tok[sl], pos[sl], buckets).float()
        tgt = tok[sl].gather(1, pos[sl] + 1)
        loss += float(F.cross_entropy(logits[valid[sl]], tgt[valid[sl]], reduction="sum"))
        preds.append(logits.argmax(-1))
        gens.append(generate(model, tok[sl], plen[sl], n_new))
    tgt = tok.gather(1, pos + 1)
    gen = torch.cat(gens)
    tf = accuracies(torch.cat(preds), tgt, valid)
    return {"test_loss": loss / int(valid.sum()), "token_acc": tf["token_acc"],
            "seq_acc": accuracies(gen, tgt, valid)["seq_acc"], "seq_acc_teacher_forced": tf["seq_acc"]}


def train_addition_lm(stream: torch.Tensor, test_split, cfg: dict, arch: str, *, seed: int, device,
                      desc: str = "entp/addition") -> tuple[GPT, pd.DataFrame]:
    """The ENTP repository's training: a window of cfg['block'] tokens at every offset of the packed training text
    (data.stream_windows), one shuffled pass over the windows per epoch, next-token loss on every position of a
    window (the encoder runs one bidirectional pass per prefix, batched). The model sees a test line alone from
    position 0."""
    torch.manual_seed(seed)
    m_cfg, block = cfg["model"], cfg["block"]
    need = int((test_split[2]).max()) - 1  # the longest test line's positions ("$a+b=c$" without its last "$")
    if block < need:
        raise ValueError(f"entp addition: lm.block {block} is shorter than a test line needs ({need} positions)")
    model = make_model(arch, m_cfg["n_layer"], m_cfg["n_head"], m_cfg["d_model"], D.ADD_VOCAB, block)
    x, y = (t.to(device) for t in D.stream_windows(stream, block))
    pos = torch.arange(block, device=device)

    def batch_fn(g):
        return torch.tensor(epoch_batch(len(x), cfg["batch"], seed, step_of(g, seed)), device=device)

    def loss_fn(m, idx):
        logits = next_token_logits(m, x[idx], pos, cfg["buckets"])
        return F.cross_entropy(logits.flatten(0, 1).float(), y[idx].flatten())

    history = fit(model, batch_fn, loss_fn, train_config(cfg), seed=seed, device=device,
                  samples_per_batch=cfg["batch"], desc=desc,
                  evaluate=lambda m: addition_metrics(m, test_split, cfg["buckets"]), eval_every=cfg["eval_every"])
    return model, history


def train_addition(train_split, test_split, cfg: dict, arch: str, *, seed: int, device, max_len: int,
                   state_path=None, run_hash: str = "", desc: str = "entp/addition") -> tuple[GPT, pd.DataFrame]:
    """Minibatches drawn with replacement from a fixed training set; loss on the answer and closing "$" only."""
    torch.manual_seed(seed)
    m_cfg = cfg["model"]
    model = make_model(arch, m_cfg["n_layer"], m_cfg["n_head"], m_cfg["d_model"], D.ADD_VOCAB, max_len)
    tok, plen, tlen = (t.to(device) for t in train_split)
    pos, valid = answer_positions(plen, tlen)

    def batch_fn(g):
        return torch.randint(0, len(tok), (cfg["batch"],), generator=g, device=device)

    def loss_fn(m, idx):
        logits = next_token_logits(m, tok[idx], pos[idx], cfg["buckets"])
        tgt = tok[idx].gather(1, pos[idx] + 1)
        return F.cross_entropy(logits[valid[idx]].float(), tgt[valid[idx]])

    history = fit(model, batch_fn, loss_fn, train_config(cfg), seed=seed, device=device, state_path=state_path,
                  run_hash=run_hash, samples_per_batch=cfg["batch"], desc=desc,
                  evaluate=lambda m: addition_metrics(m, test_split, cfg["buckets"]), eval_every=cfg["eval_every"])
    return model, history
