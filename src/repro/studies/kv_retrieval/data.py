"""Synthetic numeric key-value retrieval (the paper's simple-dictionary task), its answer checker, and the chat
formatting with the answer-only loss mask shared by training and evaluation.

A prompt lists `num_dicts` dictionaries of integer keys and values and asks for the value of one key (the gold key)
and the dictionary holding it. The gold key occurs once in the prompt; nothing else is forced unique."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PROMPT_HEAD = "Do a task using the list of dictionaries below.\n\n"
PROMPT_TAIL = ("\n\nAbove is a list of dictionaries such that each key and value is an integer. "
               "Report the value of key {gold_key} and the dictionary it is in.")
TEMPLATE_SUFFIX = (" Answer in the following template:\n"
                   "The value of key {gold_key} is <fill-in-value> "
                   "and it is in Dictionary [<fill-in-dictionary-name>].")
ANSWER = "The value of key {gold_key} is {gold_value} and it is in Dictionary [{gold_dict_name}]."

MAX_TRIES = 1000  # resamples of one example before the token budget is declared impossible
BUDGET_MARGIN = 100  # a prompt must stay under max_token - BUDGET_MARGIN tokens (room for the answer)
TOP5_SHARE = 0.05  # the "top 5%" positions of frac_top5, taken of the number of examples (see gold_positions)


@dataclass(frozen=True)
class KVExample:
    prompt: str
    answer: str
    gold_key: int
    gold_value: int
    gold_dict: int  # 1-based name: "Dictionary [gold_dict]"
    position: int  # 0-based slot of the gold dictionary (gold_dict - 1)
    n_dicts: int
    with_template: bool


def render_dictionary(name: int, pairs: list[tuple[int, int]]) -> str:
    body = ", ".join(f"{k}: {v}" for k, v in pairs)
    return f"Dictionary [{name}] {{{body}}}"


def build_prompt(dicts: list[list[tuple[int, int]]], gold_key: int, with_template: bool) -> str:
    """The prompt over `dicts` (named 1..N in order), no trailing newline."""
    lines = "\n".join(render_dictionary(i + 1, d) for i, d in enumerate(dicts))
    text = PROMPT_HEAD + lines + PROMPT_TAIL.format(gold_key=gold_key)
    if with_template:
        text += TEMPLATE_SUFFIX.format(gold_key=gold_key)
    return text


def answer_text(gold_key: int, gold_value: int, gold_dict: int) -> str:
    return ANSWER.format(gold_key=gold_key, gold_value=gold_value, gold_dict_name=gold_dict)


def forced_slots(n_examples: int, frac_0: float, frac_top5: float, rng: random.Random) -> tuple[list[int], list[int]]:
    """The example indices forced to position 0 and to the top-5% range: one rng.sample of
    int(frac_0 * n) + int(frac_top5 * n) distinct indices (truncated, as the repo: 17 and 10 of 350), the first
    int(frac_0 * n) of it for position 0 and the rest for the top-5% range (disjoint by construction)."""
    n0, n5 = int(frac_0 * n_examples), int(frac_top5 * n_examples)
    if min(frac_0, frac_top5) < 0 or n0 + n5 > n_examples:
        raise ValueError(f"kv_retrieval: frac_0={frac_0} and frac_top5={frac_top5} must be >= 0 and sum to <= 1")
    picked = rng.sample(range(n_examples), n0 + n5)
    return sorted(picked[:n0]), sorted(picked[n0:])


def gold_positions(n_examples: int, num_dicts: int, frac_0: float, frac_top5: float,
                   rng: random.Random) -> list[int]:
    """0-based gold-dictionary slot of each example: the forced_slots indices at 0 and in the top-5% range, every
    other example uniform over 0..num_dicts-1.

    The paper's quirk, kept on purpose: the top-5% range is randint(0, int(0.05 * n_examples) - 1), i.e. it scales
    with the number of examples in the set, not with num_dicts (350 training examples: slots 0-16; 150 evaluation
    examples: 0-6). We clip its upper end into [0, num_dicts - 1] so small sets (n < 40, or few dictionaries) work."""
    if num_dicts < 1 or n_examples < 0:
        raise ValueError(f"kv_retrieval: need num_dicts >= 1 and n_examples >= 0, got {num_dicts}, {n_examples}")
    zero, top = (set(s) for s in forced_slots(n_examples, frac_0, frac_top5, rng))
    top_hi = min(int(TOP5_SHARE * n_examples), num_dicts) - 1
    out = []
    for i in range(n_examples):
        if i in zero:
            out.append(0)
        elif i in top:
            out.append(rng.randint(0, max(top_hi, 0)))
        else:
            out.append(rng.randrange(num_dicts))
    return out


def _number(rng: random.Random, digits: tuple[int, int]) -> int:
    n = rng.randint(*digits)  # digit count first, then uniform among numbers of that length (as the paper)
    return rng.randint(10 ** (n - 1), 10 ** n - 1)


def _sample(rng: random.Random, position: int, num_dicts: int, with_template: bool, gold_dict_size: int,
            dict_size_range: tuple[int, int], digits: tuple[int, int]) -> KVExample:
    gold_key, gold_value = _number(rng, digits), _number(rng, digits)
    dicts = []
    for d in range(num_dicts):
        size = gold_dict_size if d == position else rng.randint(*dict_size_range)
        slot = rng.randrange(size) if d == position else -1
        pairs, keys = [], set()
        for j in range(size):
            if j == slot:
                pairs.append((gold_key, gold_value))
                continue
            while True:  # only the gold key and gold value are protected; keys within one dict are distinct
                k, v = _number(rng, digits), _number(rng, digits)
                if k != gold_key and v != gold_value and k not in keys:
                    break
            keys.add(k)
            pairs.append((k, v))
        dicts.append(pairs)
    return KVExample(prompt=build_prompt(dicts, gold_key, with_template),
                     answer=answer_text(gold_key, gold_value, position + 1), gold_key=gold_key,
                     gold_value=gold_value, gold_dict=position + 1, position=position, n_dicts=num_dicts,
                     with_template=with_template)


def make_examples(n: int, num_dicts: int, seed: int, with_template: bool, *,
                  count_tokens: Callable[[str], int] | None = None, max_token: int = 4096, gold_dict_size: int = 3,
                  dict_size_range: tuple[int, int] = (3, 4), digits: tuple[int, int] = (3, 4), frac_0: float = 0.05,
                  frac_top5: float = 0.03) -> list[KVExample]:
    """n examples from random.Random(seed) (same arguments, same examples). An example whose prompt is not
    shorter than max_token - 100 tokens under count_tokens is redrawn at the same gold position, up to 1000 times,
    then ValueError. count_tokens=None skips the check."""
    lo, hi = dict_size_range
    if not (1 <= lo <= hi and gold_dict_size >= 1 and 1 <= digits[0] <= digits[1]):
        raise ValueError(f"kv_retrieval: bad sizes dict_size_range={dict_size_range}, "
                         f"gold_dict_size={gold_dict_size}, digits={digits}")
    n_numbers = 10 ** digits[1] - 10 ** (digits[0] - 1)
    if n_numbers < max(hi, gold_dict_size) + 1:  # else the distinct-key resampling could never finish
        raise ValueError(f"kv_retrieval: digits={digits} give too few distinct keys for dictionaries of {hi}")
    rng = random.Random(seed)
    out = []
    for position in gold_positions(n, num_dicts, frac_0, frac_top5, rng):
        for _ in range(MAX_TRIES):
            ex = _sample(rng, position, num_dicts, with_template, gold_dict_size, dict_size_range, digits)
            if count_tokens is None or count_tokens(ex.prompt) < max_token - BUDGET_MARGIN:
                break
        else:
            raise ValueError(f"kv_retrieval: no prompt with num_dicts={num_dicts}, dict_size_range={dict_size_range}, "
                             f"digits={digits}, with_template={with_template} fits under max_token={max_token} - "
                             f"{BUDGET_MARGIN} tokens after {MAX_TRIES} tries")
        out.append(ex)
    return out


# "... is <value> and it is in Dictionary [<name>]", case- and spacing-tolerant, brackets optional
_ANSWER_RE = re.compile(r"\bis\s*\[?\s*(-?\d+)\s*\]?\s*,?\s*and\s+it\s+is\s+in\s+dictionary\s*\[?\s*(\d+)\s*\]?",
                        re.IGNORECASE)


def parse_answer(text: str) -> tuple[int, int] | None:
    """(value, dictionary name) from the first answer-template sentence in `text`; None if there is none."""
    m = _ANSWER_RE.search(text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def kv_correct(example: KVExample, generated: str) -> bool:
    return parse_answer(generated) == (example.gold_value, example.gold_dict)


def value_correct(example: KVExample, generated: str) -> bool:
    """The value alone (reported beside the full match: a small model may retrieve the value but not the name)."""
    got = parse_answer(generated)
    return got is not None and got[0] == example.gold_value


def name_correct(example: KVExample, generated: str) -> bool:
    """The dictionary name alone (chance: 1 / n_dicts for a model that knows the names but not which one)."""
    got = parse_answer(generated)
    return got is not None and got[1] == example.gold_dict


def counter(tok) -> Callable[[str], int]:
    """Token count of a text under `tok` (no special tokens): the budget check of make_examples."""
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def kv_set(tok, dcfg: dict, n: int, n_dicts: int, seed: int, with_template: bool) -> list[KVExample]:
    """n examples under the data config's token budget and forced-position shares, measured in `tok`'s tokens."""
    return make_examples(n, n_dicts, seed, with_template, count_tokens=counter(tok), max_token=dcfg["max_token"],
                         frac_0=dcfg["frac_0"], frac_top5=dcfg["frac_top5"])


_PAIR_RE = re.compile(r"(\d+): (\d+)")


def pairs_in(prompt: str) -> set[tuple[int, int]]:
    """Every (key, value) pair written in a prompt's dictionaries."""
    return {(int(k), int(v)) for k, v in _PAIR_RE.findall(prompt)}


def _as_ids(out) -> list[int]:
    # transformers 5 returns a BatchEncoding from apply_chat_template(tokenize=True); older versions a list
    if isinstance(out, Mapping) or hasattr(out, "input_ids"):
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    if out and isinstance(out[0], list | tuple):
        if len(out) != 1:
            raise ValueError(f"kv_retrieval: expected one chat, got a batch of {len(out)}")
        out = out[0]
    return [int(i) for i in out]


def chat_prefix_ids(tokenizer, prompt: str) -> list[int]:
    """The user turn plus the assistant header, as token ids: the model's input at evaluation, and the unlabelled
    prefix in training (one function, so both see the same template)."""
    msgs = [{"role": "user", "content": prompt}]
    return _as_ids(tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True))


def _end_of_turn(tokenizer) -> str | None:
    if "<|im_end|>" in tokenizer.get_vocab():
        return "<|im_end|>"
    return tokenizer.eos_token


def training_ids(tokenizer, prompt: str, answer: str, end_of_turn: str | None = None) -> tuple[list[int], list[int]]:
    """(input_ids, labels) = chat prefix + answer + end-of-turn; labels are -100 except on the answer tokens.

    The loss covers the answer tokens only: the prompt is given, and the end-of-turn marker is masked as well, so
    the fine-tune teaches the retrieval answer and nothing about when to stop (evaluation bounds the generation
    length and parses the first answer sentence). end_of_turn defaults to "<|im_end|>" when the vocabulary has it,
    else the eos token."""
    prefix = chat_prefix_ids(tokenizer, prompt)
    ans = tokenizer(answer, add_special_tokens=False)["input_ids"]
    eot_text = end_of_turn if end_of_turn is not None else _end_of_turn(tokenizer)
    eot = tokenizer(eot_text, add_special_tokens=False)["input_ids"] if eot_text else []
    ids = prefix + list(ans) + list(eot)
    labels = [-100] * len(prefix) + list(ans) + [-100] * len(eot)
    return ids, labels
