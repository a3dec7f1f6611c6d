"""kv_retrieval data: the key-value prompt strings byte for byte, the generator's invariants (unique gold key,
sizes, digits, the gold-position quirk, the token budget), the answer parser, the answer-only label mask, and the
multi-document QA prompt, metric, fictional-facts set and NQ-Open oracle reader."""

import gzip
import json
import random
import re

import pytest

from repro.studies.kv_retrieval import data as KV
from repro.studies.kv_retrieval import mdqa as QA
from repro.studies.kv_retrieval.heldout import HELD_OUT_TEXT
from repro.studies.kv_retrieval.tiny import tiny_tokenizer

DICTS = [[(9376, 1663), (8808, 7634)], [(388, 4578), (733, 873), (512, 64)]]
EXPECTED_PLAIN = (
    "Do a task using the list of dictionaries below.\n"
    "\n"
    "Dictionary [1] {9376: 1663, 8808: 7634}\n"
    "Dictionary [2] {388: 4578, 733: 873, 512: 64}\n"
    "\n"
    "Above is a list of dictionaries such that each key and value is an integer. Report the value of key 733 and "
    "the dictionary it is in."
)
EXPECTED_TEMPLATE = EXPECTED_PLAIN + (
    " Answer in the following template:\n"
    "The value of key 733 is <fill-in-value> and it is in Dictionary [<fill-in-dictionary-name>]."
)
LINE = re.compile(r"^Dictionary \[(\d+)\] \{(.*)\}$")


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def _parse_prompt(prompt: str) -> list[list[tuple[int, int]]]:
    """The dictionaries of a prompt, read back from its lines (names checked to run 1..N)."""
    dicts = []
    for line in prompt.split("\n"):
        m = LINE.match(line)
        if m:
            assert int(m.group(1)) == len(dicts) + 1
            dicts.append([tuple(int(x) for x in kv.split(": ")) for kv in m.group(2).split(", ")])
    return dicts


# ---------------------------------------------------------------- key-value prompts
def test_templates_reproduce_the_exact_strings():
    assert KV.render_dictionary(1, [(9376, 1663), (8808, 7634), (388, 4578), (733, 873)]) == \
        "Dictionary [1] {9376: 1663, 8808: 7634, 388: 4578, 733: 873}"
    assert KV.build_prompt(DICTS, 733, with_template=False) == EXPECTED_PLAIN
    assert KV.build_prompt(DICTS, 733, with_template=True) == EXPECTED_TEMPLATE
    assert not EXPECTED_TEMPLATE.endswith("\n")
    assert KV.answer_text(733, 873, 2) == "The value of key 733 is 873 and it is in Dictionary [2]."


@pytest.mark.parametrize("with_template", [False, True])
def test_generated_examples_keep_the_invariants(with_template):
    examples = KV.make_examples(40, 12, seed=3, with_template=with_template)
    assert len(examples) == 40
    for e in examples:
        dicts = _parse_prompt(e.prompt)
        assert len(dicts) == e.n_dicts == 12
        assert e.gold_dict == e.position + 1 and e.with_template == with_template
        keys = [k for d in dicts for k, _ in d]
        assert keys.count(e.gold_key) == 1
        gold = dicts[e.position]
        assert len(gold) == 3 and (e.gold_key, e.gold_value) in gold
        others = [(k, v) for i, d in enumerate(dicts) for k, v in d if i != e.position] + \
                 [(k, v) for k, v in gold if k != e.gold_key]
        assert all(v != e.gold_value for _, v in others)
        assert all(3 <= len(d) <= 4 for i, d in enumerate(dicts) if i != e.position)
        assert all(len({k for k, _ in d}) == len(d) for d in dicts)
        assert all(100 <= x <= 9999 for d in dicts for kv in d for x in kv)
        assert e.answer == f"The value of key {e.gold_key} is {e.gold_value} and it is in Dictionary [{e.gold_dict}]."
        assert e.prompt == KV.build_prompt(dicts, e.gold_key, with_template)
    digits = {len(str(x)) for e in examples for d in _parse_prompt(e.prompt) for kv in d for x in kv}
    assert digits == {3, 4}
    assert len({e.position for e in examples}) > 5  # positions spread, not stuck at one slot


def test_same_seed_same_examples_other_seed_other_examples():
    a = KV.make_examples(10, 6, seed=7, with_template=True)
    assert a == KV.make_examples(10, 6, seed=7, with_template=True)
    assert a != KV.make_examples(10, 6, seed=8, with_template=True)


@pytest.mark.parametrize("n, top, n0, n5", [(350, 16, 17, 10), (150, 6, 7, 4)])  # int(), not round(): 17.5 -> 17
def test_gold_positions_forced_shares_and_the_top5_quirk(n, top, n0, n5):
    for num_dicts in (85, 1000):  # the top-5% range must not grow with the number of dictionaries
        zero, top5 = KV.forced_slots(n, 0.05, 0.03, random.Random(11))
        pos = KV.gold_positions(n, num_dicts, 0.05, 0.03, random.Random(11))
        assert len(pos) == n and not set(zero) & set(top5)
        assert (len(zero), len(top5)) == (n0, n5)
        assert all(pos[i] == 0 for i in zero)
        assert all(0 <= pos[i] <= top for i in top5)
        rest = [pos[i] for i in range(n) if i not in set(zero) | set(top5)]
        assert all(0 <= p < num_dicts for p in rest)
        if num_dicts == 1000:  # uniform ones reach far beyond the forced range
            assert max(rest) > 10 * top


def test_gold_positions_small_sets_are_clipped():
    pos = KV.gold_positions(30, 4, 0.1, 0.5, random.Random(0))  # int(0.05 * 30) = 1 -> forced range is {0}
    zero, top5 = KV.forced_slots(30, 0.1, 0.5, random.Random(0))
    assert all(pos[i] == 0 for i in zero + top5)
    assert all(0 <= p < 4 for p in pos)
    with pytest.raises(ValueError):
        KV.gold_positions(10, 4, 0.6, 0.6, random.Random(0))


def test_token_budget_resamples_then_raises():
    free = KV.make_examples(30, 8, seed=5, with_template=False)
    lengths = sorted(len(e.prompt) for e in free)
    limit = lengths[len(lengths) // 2]  # about half of the unchecked prompts are too long
    calls = []

    def count(text):
        calls.append(text)
        return len(text)

    kept = KV.make_examples(30, 8, seed=5, with_template=False, count_tokens=count, max_token=limit + 100)
    assert len(kept) == 30 and all(len(e.prompt) < limit for e in kept)
    assert len(calls) > 30  # some were redrawn
    assert sum(len(e.prompt) >= limit for e in free) > 0
    with pytest.raises(ValueError, match="num_dicts=8"):
        KV.make_examples(3, 8, seed=5, with_template=False, count_tokens=lambda t: 10 ** 6)


def test_parse_answer_and_kv_correct():
    e = KV.KVExample(prompt="", answer=KV.answer_text(733, 873, 2), gold_key=733, gold_value=873, gold_dict=2,
                     position=1, n_dicts=2, with_template=True)
    assert KV.parse_answer(e.answer) == (873, 2)
    assert KV.kv_correct(e, e.answer)
    assert KV.kv_correct(e, "Sure! The value of key 733 is 873 and it is in Dictionary [2].\nAnything else?")
    assert KV.kv_correct(e, "the value of key 733 is 873 and it is in dictionary 2")
    assert not KV.kv_correct(e, "The value of key 733 is 874 and it is in Dictionary [2].")
    assert not KV.kv_correct(e, "The value of key 733 is 873 and it is in Dictionary [1].")
    assert not KV.kv_correct(e, "The value of key 733 is 8731 and it is in Dictionary [21].")
    assert KV.parse_answer("I do not know, 873, Dictionary") is None
    assert KV.parse_answer("") is None
    assert not KV.kv_correct(e, "<|im_end|> 873 2")
    assert KV.value_correct(e, "The value of key 733 is 873 and it is in Dictionary [1].")  # name wrong, value right
    assert not KV.value_correct(e, "The value of key 733 is 874 and it is in Dictionary [2].")
    assert not KV.value_correct(e, "")


# ---------------------------------------------------------------- chat format and labels
def test_tiny_tokenizer_round_trip_and_chat_template(tok):
    text = EXPECTED_TEMPLATE + "  ~|`"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tok.decode(ids) == text
    assert tok.unk_token_id not in ids
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.pad_token == "<pad>" and tok.eos_token == "<|im_end|>" and tok.padding_side == "left"
    assert tok("<|im_end|>", add_special_tokens=False)["input_ids"] == [tok.eos_token_id]


def test_training_ids_label_only_the_answer(tok):
    e = KV.make_examples(1, 3, seed=0, with_template=True)[0]
    prefix = KV.chat_prefix_ids(tok, e.prompt)
    assert tok.decode(prefix) == f"<|im_start|>user\n{e.prompt}<|im_end|>\n<|im_start|>assistant\n"
    ids, labels = KV.training_ids(tok, e.prompt, e.answer)
    assert len(ids) == len(labels) and ids[:len(prefix)] == prefix
    n_ans = len(tok(e.answer, add_special_tokens=False)["input_ids"])
    assert len(ids) == len(prefix) + n_ans + 1 and ids[-1] == tok.eos_token_id
    labelled = [i for i, y in enumerate(labels) if y != -100]
    assert labelled == list(range(len(prefix), len(prefix) + n_ans))
    assert all(labels[i] == ids[i] for i in labelled)
    assert tok.decode([labels[i] for i in labelled]) == e.answer
    assert labels[-1] == -100  # end of turn masked
    ids2, labels2 = KV.training_ids(tok, e.prompt, e.answer, end_of_turn="\n\n")
    assert ids2[-2:] == tok("\n\n", add_special_tokens=False)["input_ids"] and labels2[-2:] == [-100, -100]


# ---------------------------------------------------------------- multi-document QA
def test_mdqa_prompt_is_verbatim():
    docs = [("Veldran Quarry", "The Veldran Quarry was founded by Ilsa Morrow in 1874."), ("Other", "Text two.")]
    expected = (
        "Write a high-quality answer for the given question using only the provided search results (some of which "
        "might be irrelevant).\n"
        "\n"
        "Document [1](Title: Veldran Quarry) The Veldran Quarry was founded by Ilsa Morrow in 1874.\n"
        "Document [2](Title: Other) Text two.\n"
        "\n"
        "Question: Who founded the Veldran Quarry?\n"
        "Answer:"
    )
    assert QA.prompt(docs, "Who founded the Veldran Quarry?") == expected
    item = QA.QAItem(question="Who founded the Veldran Quarry?", answers=("Ilsa Morrow",), docs=tuple(docs), gold=0,
                     n_docs=2, qid=0)
    assert item.prompt == expected


def test_normalize_answer_and_best_subspan_em():
    assert QA.normalize_answer("The  Cat, an Apple & a DOG!") == "cat apple dog"
    assert QA.normalize_answer("Theatre anagram") == "theatre anagram"  # articles only as whole words
    assert QA.best_subspan_em("It was founded by ILSA MORROW, in 1874.", ["Ilsa Morrow"]) == 1.0
    assert QA.best_subspan_em("the answer is: the United States.", ["United States of America", "U.S."]) == 0.0
    assert QA.best_subspan_em("the answer is: the United States.", ["united states", "USA"]) == 1.0
    assert QA.best_subspan_em("Ilsa", ["Ilsa Morrow"]) == 0.0
    assert QA.best_subspan_em("no idea", ["1874", "Ilsa Morrow"]) == 0.0
    assert QA.best_subspan_em("In 1874.", ["Ilsa Morrow", "1874"]) == 1.0


def test_positions():
    assert QA.positions(20, ["first", "middle", "last"]) == [0, 9, 19]
    assert QA.positions(5, ["middle", 3]) == [2, 3]
    with pytest.raises(ValueError):
        QA.positions(5, [5])
    with pytest.raises(ValueError):
        QA.positions(5, ["centre"])


def test_fictional_mdqa_gold_distractors_and_pairing():
    n_docs, where = 10, QA.positions(10, ["first", "middle", "last"])
    items = QA.fictional_mdqa(30, n_docs, where, seed=4)
    assert len(items) == 30 * len(where)
    assert items == QA.fictional_mdqa(30, n_docs, where, seed=4)
    by_q = {}
    for it in items:
        assert it.n_docs == len(it.docs) == n_docs and it.gold in where
        title, text = it.docs[it.gold]
        assert any(a in text for a in it.answers)  # verbatim
        assert QA.best_subspan_em(text, list(it.answers)) == 1.0
        assert it.question.endswith("?") and title in it.question
        for j, (t, x) in enumerate(it.docs):
            if j != it.gold:
                assert QA.best_subspan_em(f"{t} {x}", list(it.answers)) == 0.0
                assert t != title and t.split()[-1] == title.split()[-1]  # same kind, other entity
        words = len(text.split())
        assert 40 <= words <= 70
        by_q.setdefault(it.qid, []).append(it)
    for group in by_q.values():
        assert [g.gold for g in group] == where
        rest = [[d for j, d in enumerate(g.docs) if j != g.gold] for g in group]
        assert all(r == rest[0] for r in rest)  # same distractors, same order
        assert len({g.docs[g.gold] for g in group}) == 1
    assert len({it.question for it in items}) == 30
    kinds = {it.question.rstrip("?").split()[-1] for it in items}
    assert len(kinds) >= 4


def _nq_file(tmp_path):
    rows = [
        ("who wrote the novel moby dick", ["Herman Melville"],
         ("Moby-Dick", "Moby-Dick is an 1851 novel by Herman Melville about the whaling voyage of the Pequod.")),
        ("what is the capital city of australia", ["Canberra"],
         ("Canberra", "Canberra is the capital city of Australia, planned as a compromise between Sydney and "
                      "Melbourne.")),
        ("who wrote the novel pride and prejudice", ["Jane Austen"],
         ("Pride and Prejudice", "Pride and Prejudice is an 1813 novel of manners written by Jane Austen.")),
        ("which city is the largest in australia", ["Sydney"],
         ("Sydney", "Sydney is the most populous city in Australia and lies on the east coast.")),
    ]
    path = tmp_path / "nq-open-oracle.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for q, ans, (title, text) in rows:
            ctxs = [{"title": title, "text": text, "hasanswer": True, "isgold": True}]
            fh.write(json.dumps({"question": q, "answers": ans, "ctxs": ctxs}) + "\n")
    return str(path)


def test_load_nq_oracle_builds_items(tmp_path):
    path = _nq_file(tmp_path)
    items = QA.load_nq_oracle(path, 4, 3, [0, 2], seed=0)
    assert len(items) == 4 * 2
    for it in items:
        assert len(it.docs) == 3 and it.gold in (0, 2)
        assert QA.best_subspan_em(it.docs[it.gold][1], list(it.answers)) == 1.0
        assert all(QA.best_subspan_em(f"{t} {x}", list(it.answers)) == 0.0
                   for j, (t, x) in enumerate(it.docs) if j != it.gold)
    canberra = [it for it in items if it.answers == ("Canberra",)]
    # TF-IDF ranking: the passage closest to the Canberra question is Sydney's ("city", "australia")
    assert canberra[0].docs[1][0] == "Sydney"
    sydney = [it for it in items if it.answers == ("Sydney",)]
    # Canberra's passage mentions Sydney, so the Sydney question must skip it although it is the most similar
    assert all("Canberra" not in [t for t, _ in it.docs] for it in sydney)
    pairs = [it for it in items if it.qid == items[0].qid]
    assert [d for j, d in enumerate(pairs[0].docs) if j != pairs[0].gold] == \
        [d for j, d in enumerate(pairs[1].docs) if j != pairs[1].gold]


def test_load_nq_oracle_absent_prints_one_line(tmp_path, capsys):
    assert QA.load_nq_oracle(str(tmp_path / "missing.jsonl.gz"), 4, 3, [0], seed=0) is None
    assert QA.load_nq_oracle(None, 4, 3, [0], seed=0) is None
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 2 and "absent" in err and "fictional" in err


def test_held_out_text_is_plain_prose():
    words = HELD_OUT_TEXT.split()
    assert 350 <= len(words) <= 450
    assert all(ord(c) < 128 for c in HELD_OUT_TEXT)
