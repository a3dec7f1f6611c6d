"""The three ENTP experiments, one job's worth each: Count3 training of one model, addition sample efficiency
for one (objective, format, architecture, training-set size), and length generalisation for one architecture."""

from __future__ import annotations

import pandas as pd
import torch

from repro.studies.entp import data as D
from repro.studies.entp.train import addition_metrics, train_addition, train_addition_lm, train_count3


def count3(cfg: dict, name: str, *, seed: int, device, state_path=None, run_hash: str = ""):
    """Train the model `name` of cfg['models'] on Count3 -> (model, learning-curve table)."""
    if name not in cfg["models"]:
        raise ValueError(f"entp count3: no model {name!r}; configured: {', '.join(cfg['models'])}")
    mc = cfg["models"][name]
    model, hist = train_count3(cfg, mc, seed=seed, device=device, state_path=state_path, run_hash=run_hash,
                               desc=f"entp/count3/{name}")
    return model, hist.assign(model=name, arch=mc["arch"], n_layer=mc["n_layer"], d_model=mc["d_model"],
                              params=model.num_params(), seed=seed)


def addition_max_len(digits: int) -> int:
    return 3 * digits + 6  # "$" a "+" b "=" c "$", c has at most digits + 1 digits


OBJECTIVES = ("lm", "answer")


def addition(cfg: dict, fmt: str, arch: str, n_train: int, objective: str = "lm", *, device) -> pd.DataFrame:
    """Test accuracy against training step for every seed at one training-set size (learning curves; the last
    row per seed is the final accuracy). Every seed draws its own split by the ENTP repository's recipe
    (data.entp_addition_split) and its own initialisation; both objectives and both architectures share it.

    objective "lm": the repository's language-model training on packed blocks, loss on every character;
    "answer": an ablation with one example per row and the loss on the answer digits and the closing "$" only."""
    if objective not in OBJECTIVES:
        raise ValueError(f"entp addition objective must be one of {OBJECTIVES}, got {objective!r}")
    rows, reverse = [], fmt == "reversed"
    for seed in cfg["seeds"]:
        train_pairs, test_pairs = D.entp_addition_split(n_train, cfg["n_test"], cfg["digits"], seed,
                                                        cfg.get("top_keep", 1.0))
        overlap = len({tuple(p) for p in train_pairs.tolist()} & {tuple(p) for p in test_pairs.tolist()})
        test, name = D.encode_pairs(test_pairs, reverse), f"entp/addition/{objective}/{fmt}/{arch}/n{n_train}/s{seed}"
        if objective == "lm":
            model, hist = train_addition_lm(D.packed_stream(train_pairs, reverse), test, cfg, arch, seed=seed,
                                            device=device, desc=name)
        else:
            model, hist = train_addition(D.encode_pairs(train_pairs, reverse), test, cfg, arch, seed=seed,
                                         device=device, max_len=addition_max_len(cfg["digits"]), desc=name)
        rows.append(hist.dropna(subset=["seq_acc"]).assign(objective=objective, format=fmt, arch=arch,
                                                           n_train=n_train, seed=seed, overlap=overlap,
                                                           params=model.num_params()))
    return pd.concat(rows, ignore_index=True)


def length_generalisation(cfg: dict, arch: str, *, device) -> pd.DataFrame:
    """Train on operands of train_digits digits; accuracy on test pairs grouped by the long operand's length.

    Rows: seed, long_digits (the longer operand's digit count; in-distribution lengths included as a
    reference), n, token_acc, seq_acc.
    """
    lo, hi = cfg["train_digits"]
    t_lo, t_hi = cfg["test_digits"]
    max_len = addition_max_len(t_hi)
    rows = []
    for seed in cfg["seeds"]:
        train, test = D.length_split(cfg["n_train"], cfg["n_test"], (lo, hi), (t_lo, t_hi), seed=seed)
        _, in_dist = D.length_split(1, cfg["n_test"], (lo, hi), (lo, hi), seed=seed + 10**6)
        model, hist = train_addition(train, test, cfg, arch, seed=seed, device=device, max_len=max_len,
                                     desc=f"entp/length/{arch}/s{seed}")
        for split_name, split in (("in_distribution", in_dist), ("longer", test)):
            tok, plen, tlen = split
            a_len = (tok[:, 1:] == D.PLUS).float().argmax(1)  # digits of a
            b_len = plen - 3 - a_len
            longest = torch.maximum(a_len, b_len)
            for nd in sorted(set(longest.tolist())):
                sel = longest == nd
                m = addition_metrics(model, (tok[sel], plen[sel], tlen[sel]), cfg["buckets"])
                rows.append({"arch": arch, "seed": seed, "split": split_name, "long_digits": nd, "n": int(sel.sum()),
                             "token_acc": m["token_acc"], "seq_acc": m["seq_acc"],
                             "final_train_loss": float(hist.loss.iloc[-1]), "params": model.num_params()})
    return pd.DataFrame(rows)
