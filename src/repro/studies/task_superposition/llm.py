"""Mixed-task prompts for a pretrained LLM, and the answer-probability scorer.

Tasks (the official `tasks.py` generators, rewritten): in the `AB` family the question is `A@B=` with A, B
two-digit numbers and the answer is A (`copyA`) or B (`copyB`); in the `word` family the question is
`word ->` and the answer is ` x`, the word's first or last letter, lower or upper case. A prompt is one
example per line, `{examples}\\n{question}`; the question never appears among the examples, and the
answers of every task in the prompt differ from each other and from the control answer, a string of the
same format that no task produces.

P(answer | prompt) is the teacher-forced product over the answer's tokens. The answer's tokens are the
tokens of `prompt + answer` after the prompt's own tokens; when the tokenizer merges across that boundary
the prompt's tokens are no longer a prefix and `answer_tokens` refuses the pair (the brief's pitfall).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from pathlib import Path

import torch

FAMILIES = {"AB": ("copyA", "copyB"),
            "word": ("first_letter", "last_letter", "first_letter_cap", "last_letter_cap")}
TASK_FAMILY = {t: f for f, ts in FAMILIES.items() for t in ts}
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def words() -> list[str]:
    text = (Path(__file__).with_name("words.txt")).read_text()
    ws = [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]
    return [w for w in ws if w[0] != w[-1]]


def question(family: str, rng: random.Random, pool: list[str]) -> tuple[str, object]:
    """A random question of the family: (its text, the item the tasks read)."""
    if family == "AB":
        a, b = rng.sample(range(10, 100), 2)
        return f"{a}@{b}=", (a, b)
    w = rng.choice(pool)
    return f"{w} ->", w


def answer(task: str, item) -> str:
    if task == "copyA":
        return str(item[0])
    if task == "copyB":
        return str(item[1])
    letter = item[0] if task.startswith("first") else item[-1]
    return " " + (letter.upper() if task.endswith("_cap") else letter)


def control(family: str, taken: set[str], rng: random.Random, tasks) -> str:
    """An answer of the same format as the tasks' that none of them gives."""
    while True:
        if family == "AB":
            c = str(rng.randrange(10, 100))
        else:
            upper = all(t.endswith("_cap") for t in tasks)
            c = " " + rng.choice(LETTERS.upper() if upper else LETTERS)
        if c not in taken:
            return c


@dataclass
class Prompt:
    text: str
    tasks: tuple  # the tasks mixed in this prompt
    demo_tasks: list  # the task of each demo, in order
    answers: dict  # task -> the question's answer under that task, plus "control"


def mixed_prompt(tasks, counts, rng: random.Random, pool: list[str]) -> Prompt:
    """`counts[i]` demos of `tasks[i]` in random order, then a question none of them showed."""
    family = TASK_FAMILY[tasks[0]]
    if any(TASK_FAMILY[t] != family for t in tasks):
        raise ValueError(f"tasks of one prompt must share a family, got {tasks}")
    order = [t for t, c in zip(tasks, counts) for _ in range(c)]
    rng.shuffle(order)
    while True:  # the question: answers of all tasks distinct, input not among the demos
        q, item = question(family, rng, pool)
        ans = {t: answer(t, item) for t in tasks}
        if len(set(ans.values())) == len(ans):
            break
    lines, seen = [], {q}
    for t in order:
        while True:
            dq, ditem = question(family, rng, pool)
            if dq not in seen:
                break
        seen.add(dq)
        lines.append(dq + answer(t, ditem))
    ans["control"] = control(family, set(ans.values()), rng, tasks)
    return Prompt("\n".join(lines) + "\n" + q, tuple(tasks), order, ans)


def answer_tokens(encode, prompt: str, answer_text: str) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) with prompt ids a prefix of the ids of prompt + answer."""
    p, full = encode(prompt), encode(prompt + answer_text)
    if full[:len(p)] != p or len(full) == len(p):
        raise ValueError(f"tokenisation merges across the prompt/answer boundary: {prompt[-8:]!r} + {answer_text!r}")
    return p, full[len(p):]


@torch.no_grad()
def score(model, encode, prompt: str, answers: dict, device="cpu") -> dict:
    """{name: (log P(answer | prompt), greedy)} with greedy True when every answer token is the argmax.

    One forward of the prompt (its KV cache kept), then the remaining tokens of all answers of one length in
    one batched forward on a copy of that cache: the same numbers as a full forward of prompt + answer per
    answer, at a fraction of the cost.
    """
    toks = {k: answer_tokens(encode, prompt, a) for k, a in answers.items()}
    p_ids = next(iter(toks.values()))[0]
    out = model(torch.tensor([p_ids], device=device), use_cache=True)
    kv_name, kv = _cache_of(model, out)
    first = out.logits[0, -1].float().log_softmax(-1)
    result = {k: [float(first[a[0]]), bool(first.argmax() == a[0])] for k, (_, a) in toks.items()}
    by_len: dict[int, list] = {}
    for k, (_, a) in toks.items():
        if len(a) > 1:
            by_len.setdefault(len(a), []).append(k)
    for n_tok, keys in by_len.items():  # answers of one length: their remaining tokens in one batched forward
        cache = copy.deepcopy(kv)
        cache.batch_repeat_interleave(len(keys))
        ids = torch.tensor([toks[k][1] for k in keys], device=device)
        rest = model(ids[:, :-1], use_cache=True, **{kv_name: cache}).logits.float().log_softmax(-1)
        lp = rest.gather(2, ids[:, 1:, None])[..., 0].sum(1)
        greedy = (rest.argmax(-1) == ids[:, 1:]).all(1)
        for i, k in enumerate(keys):
            result[k][0] += float(lp[i])
            result[k][1] = result[k][1] and bool(greedy[i])
    return {k: (v[0], v[1]) for k, v in result.items()}


def _cache_of(model, out):
    """(keyword, cache): transformers 5 calls the KV cache `cache`, earlier releases `past_key_values`."""
    import inspect

    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    kv = getattr(out, "cache", None)
    return name, kv if kv is not None else out.past_key_values


@torch.no_grad()
def score_naive(model, encode, prompt: str, answer_text: str, device="cpu") -> float:
    """log P(answer | prompt) token by token, one full forward per answer token (the reference for tests)."""
    p, a = answer_tokens(encode, prompt, answer_text)
    total, ctx = 0.0, list(p)
    for t in a:
        logits = model(torch.tensor([ctx], device=device)).logits[0, -1].float()
        total += float(logits.log_softmax(-1)[t])
        ctx.append(t)
    return total


class CharTokenizer:
    """Character tokenizer for the random tiny Llama of smoke runs and tests (no files needed)."""

    def __init__(self, alphabet: str = "0123456789@=->\n abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        self.alphabet = alphabet

    def __call__(self, text: str) -> list[int]:
        return [3 + self.alphabet.index(c) for c in text]

    @property
    def vocab_size(self) -> int:
        return 3 + len(self.alphabet)


def load(source: str, device, dtype: str = "float32"):
    """(model, encode) for 'smollm2' (the offline GGUF, via multibin_batching's loader) or 'tiny-random'."""
    from repro.studies.multibin_batching import llm as loader

    model, _, _ = loader.load(source, device, dtype)
    if source == "smollm2":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(loader.smollm2_dir(), gguf_file=loader.GGUF_FILE)
        return model, (lambda text: tok(text, add_special_tokens=False).input_ids)
    chars = CharTokenizer()
    if chars.vocab_size > model.config.vocab_size:
        raise ValueError("tiny-random model vocabulary is smaller than the character tokenizer's")
    return model, chars


# ------------------------------------------------------------------------------------------ task vectors
class ResidualHooks:
    """Read or replace the residual stream after decoder layer l (resid_post) at one position.

    `read[l]` collects the output of layer l at the absolute position `pos`; `patch[l] = vector` replaces it
    there. Hooks act only on a forward whose input covers `pos`, so the answer's later tokens, decoded on the
    KV cache, see the patched prompt without being patched themselves.
    """

    def __init__(self, model):
        self.model, self.layers = model, model.model.layers
        self.pos, self.read, self.patch, self._handles = 0, {}, {}, []  # pos: an absolute position
        self._fresh = True

    def __enter__(self):
        for i, layer in enumerate(self.layers):
            self._handles.append(layer.register_forward_hook(self._hook(i)))
        # a forward is fresh when it starts at position 0 (no KV cache in use): set by a pre-hook on the model
        self._handles.append(self.model.register_forward_pre_hook(self._start, with_kwargs=True))
        return self

    def _start(self, module, args, kwargs):
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        self._fresh = cache is None or cache.get_seq_length() == 0
        return None

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()

    def _hook(self, i):
        def hook(module, args, out):
            hidden = out[0] if isinstance(out, tuple) else out
            if not self._fresh or hidden.shape[1] <= self.pos:  # a cached continuation: never patched
                return None
            if i in self.read:
                self.read[i].append(hidden[:, self.pos].detach().float())
            if i in self.patch:
                hidden = hidden.clone()
                hidden[:, self.pos] = self.patch[i].to(hidden.dtype)
                return (hidden, *out[1:]) if isinstance(out, tuple) else hidden
            return None
        return hook


@torch.no_grad()
def llm_task_vectors(model, encode, tasks, layers, n_prompts: int, n_demos: int, rng, pool, device="cpu") -> dict:
    """{task: {layer: mean resid_post at the question's last token over single-task prompts}}."""
    out = {}
    with ResidualHooks(model) as hooks:
        for t in tasks:
            hooks.read = {layer: [] for layer in layers}
            for _ in range(n_prompts):
                ids = encode(mixed_prompt([t], [n_demos], rng, pool).text)
                hooks.pos = len(ids) - 1  # the question's last token (`=` or `->`)
                model(torch.tensor([ids], device=device))
            out[t] = {layer: torch.cat(v).mean(0) for layer, v in hooks.read.items()}
    return out


@torch.no_grad()
def patched_score(model, encode, hooks: ResidualHooks, question_text: str, answers: dict, patch: dict, device) -> dict:
    hooks.patch, hooks.pos = patch, len(encode(question_text)) - 1
    try:
        return score(model, encode, question_text, answers, device)
    finally:
        hooks.patch = {}
