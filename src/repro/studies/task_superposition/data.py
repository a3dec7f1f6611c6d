"""From-scratch data: character prompts `x>y\\n` of one task each for training, mixtures of two for testing.

Tasks (the co-author's `get_example`):
- `bias_add_simple`: x in 0..9, y = (x + b) mod 10, hidden b in 0..9.
- `copy`: x = 8 distinct letters, y = x[j], hidden j in 0..7.
A `skew` of (w_lo, w_hi) draws the hidden parameter from the lower half of its range with total weight w_lo
(the paper's `_9010` / `_1090` variants); the test pair then takes one parameter from each half.

Training prompts are single-task: every demo of a prompt uses the same hidden parameter. Test prompts hold
exactly round(p * n_demos) demos of task 0 in random order (so the mixing share is exact, not Bernoulli),
then the query `x_q>`; the two tasks' answers to the query always differ (`force_unique_prompts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CHARS = "0123456789abcdefghijklmnopqrstuvwxyz>\n"
VOCAB = len(CHARS)
SEP, EOL = CHARS.index(">"), CHARS.index("\n")
LETTER0 = CHARS.index("a")
TASKS = {"bias_add_simple": 10, "copy": 8}  # task -> number of hidden parameters
COPY_LEN = 8


def example_len(task: str) -> int:
    """Characters of one example `x>y\\n`."""
    return (COPY_LEN if task == "copy" else 1) + 3


def prompt_len(task: str, n_demos: int) -> int:
    """Tokens of a test prompt: the demos and the query `x>`."""
    return n_demos * example_len(task) + example_len(task) - 2


def encode(text: str) -> list[int]:
    return [CHARS.index(c) for c in text]


def decode(ids) -> str:
    return "".join(CHARS[int(i)] for i in ids)


def _inputs(task: str, n: int, g: torch.Generator, device) -> torch.Tensor:
    """(n, len_x) token ids of n random inputs."""
    if task == "bias_add_simple":
        return torch.randint(0, 10, (n, 1), generator=g, device=device)
    # 8 distinct letters: the first 8 of a random permutation of the 26
    return torch.rand(n, 26, generator=g, device=device).argsort(dim=1)[:, :COPY_LEN] + LETTER0


def _answers(task: str, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """(n,) answer token of inputs x (n, len_x) under hidden parameters h (n,)."""
    if task == "bias_add_simple":
        return (x[:, 0] + h) % 10
    return x.gather(1, h[:, None])[:, 0]


def draw_params(task: str, n: int, g: torch.Generator, device, skew=None, limit: int | None = None) -> torch.Tensor:
    """(n,) hidden parameters, uniform or skewed between the two halves of the parameter range; `limit` (a
    curriculum) draws uniformly from the first `limit` parameters only."""
    size = TASKS[task]
    if limit is not None and limit < size:
        return torch.randint(0, limit, (n,), generator=g, device=device)
    if skew is None:
        return torch.randint(0, size, (n,), generator=g, device=device)
    half = size // 2
    lo = torch.rand(n, generator=g, device=device) < skew[0] / (skew[0] + skew[1])
    u = torch.rand(n, generator=g, device=device)
    return torch.where(lo, (u * half).long(), half + (u * (size - half)).long())


def _render(task: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, D, ...) inputs and (B, D) answers -> (B, D * example_len) tokens."""
    B, D = y.shape
    sep = torch.full((B, D, 1), SEP, device=y.device)
    eol = torch.full((B, D, 1), EOL, device=y.device)
    return torch.cat([x, sep, y[..., None], eol], dim=2).reshape(B, -1)


@dataclass
class TrainBatch:
    tokens: torch.Tensor  # (B, T) model input
    targets: torch.Tensor  # (B, T) next tokens
    mask: torch.Tensor  # (B, T) bool: True where the target is an answer character
    params: torch.Tensor  # (B,) the hidden parameter of each (single-task) prompt


def train_batch(task: str, batch: int, n_demos: int, g: torch.Generator, device="cpu", skew=None,
                n_params: int | None = None) -> TrainBatch:
    h = draw_params(task, batch, g, device, skew, n_params)
    x = _inputs(task, batch * n_demos, g, device).view(batch, n_demos, -1)
    y = _answers(task, x.reshape(batch * n_demos, -1), h.repeat_interleave(n_demos)).view(batch, n_demos)
    seq = _render(task, x, y)
    L = example_len(task)
    is_answer = torch.zeros(seq.shape[1], dtype=torch.bool, device=device)
    is_answer[L - 2::L] = True
    return TrainBatch(seq[:, :-1], seq[:, 1:], is_answer[1:].expand(batch, -1), h)


@dataclass
class TestPrompts:
    tokens: torch.Tensor  # (n, prompt_len) demos + query `x_q>`
    params: torch.Tensor  # (n, 2) hidden parameters of task 0 and task 1
    demo_task: torch.Tensor  # (n, n_demos) 0 or 1: which task produced each demo
    answers: torch.Tensor  # (n, 2) the query's answer token under task 0 and task 1 (always different)
    query_in_demos: torch.Tensor  # (n,) bool: the query's input also appears among the demos


def pair_params(task: str, n: int, g: torch.Generator, device, skew=None, fixed=None) -> torch.Tensor:
    """(n, 2) distinct hidden parameters; with a skew, task 0 from the lower half and task 1 from the upper;
    `fixed` = (h0, h1) uses one pair throughout (the co-author's copy runs test j = 2 against j = 6)."""
    size = TASKS[task]
    if fixed is not None:
        if fixed[0] == fixed[1] or not all(0 <= h < size for h in fixed):
            raise ValueError(f"test_pair must be two distinct parameters in 0..{size - 1}, got {fixed}")
        return torch.tensor([list(fixed)] * n, device=device)
    if skew is not None:
        half = size // 2
        return torch.stack([torch.randint(0, half, (n,), generator=g, device=device),
                            torch.randint(half, size, (n,), generator=g, device=device)], 1)
    a = torch.randint(0, size, (n,), generator=g, device=device)
    b = (a + torch.randint(1, size, (n,), generator=g, device=device)) % size
    return torch.stack([a, b], 1)


def n_task0(p: float, n_demos: int) -> int:
    k = round(p * n_demos)
    if abs(k - p * n_demos) > 1e-9:
        raise ValueError(f"share p = {p} of {n_demos} demos is not a whole number of demos; pick n_demos so it is")
    return k


def test_prompts(task: str, p: float, n: int, n_demos: int, g: torch.Generator, device="cpu",
                 skew=None, fixed=None) -> TestPrompts:
    k0 = n_task0(p, n_demos)
    params = pair_params(task, n, g, device, skew, fixed)
    order = torch.rand(n, n_demos, generator=g, device=device).argsort(dim=1)
    demo_task = (order >= k0).long()  # exactly k0 demos of task 0 per prompt, at random places
    h = params.gather(1, demo_task)
    x = _inputs(task, n * n_demos, g, device).view(n, n_demos, -1)
    y = _answers(task, x.reshape(n * n_demos, -1), h.reshape(-1)).view(n, n_demos)
    xq = _inputs(task, n, g, device)
    ans = torch.stack([_answers(task, xq, params[:, 0]), _answers(task, xq, params[:, 1])], 1)
    if task == "copy":  # distinct positions of distinct letters give distinct answers, but check
        assert bool((ans[:, 0] != ans[:, 1]).all())
    seen = (x == xq[:, None, :]).all(dim=2).any(dim=1)
    sep = torch.full((n, 1), SEP, device=device)
    tokens = torch.cat([_render(task, x, y), xq, sep], dim=1)
    return TestPrompts(tokens, params, demo_task, ans, seen)


def single_task_prompts(task: str, params: torch.Tensor, n_demos: int, g: torch.Generator) -> TestPrompts:
    """Prompts whose demos all come from `params` (n,); `answers[:, 0]` is the query's answer."""
    n, device = len(params), params.device
    x = _inputs(task, n * n_demos, g, device).view(n, n_demos, -1)
    y = _answers(task, x.reshape(n * n_demos, -1), params.repeat_interleave(n_demos)).view(n, n_demos)
    xq = _inputs(task, n, g, device)
    ans = _answers(task, xq, params)
    sep = torch.full((n, 1), SEP, device=device)
    tokens = torch.cat([_render(task, x, y), xq, sep], dim=1)
    pp = torch.stack([params, params], 1)
    return TestPrompts(tokens, pp, torch.zeros(n, n_demos, dtype=torch.long, device=device),
                       torch.stack([ans, ans], 1), (x == xq[:, None, :]).all(dim=2).any(dim=1))


def zero_shot_queries(task: str, n: int, g: torch.Generator, device="cpu") -> torch.Tensor:
    """(n, len_x) query inputs for zero-shot patching, rendered as `x>` by the caller."""
    return _inputs(task, n, g, device)
