"""Multi-document QA in the "Lost in the Middle" format: the prompt, SQuAD-style best-subspan exact match, a
fictional-facts set that is always available (invented entities, so the model cannot answer from memory), and the
real NQ-Open oracle path when its file is present.

Each question is asked with the gold document at several positions among the SAME distractors in the same order,
so accuracies by position are paired."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import string
import sys
from collections.abc import Iterable
from dataclasses import dataclass

INSTRUCTION = ("Write a high-quality answer for the given question using only the provided search results "
               "(some of which might be irrelevant).")


def prompt(docs: list[tuple[str, str]], question: str) -> str:
    """Documents numbered from 1, one per line; no trailing newline after "Answer:"."""
    lines = "\n".join(f"Document [{i}](Title: {title}) {text}" for i, (title, text) in enumerate(docs, start=1))
    return f"{INSTRUCTION}\n\n{lines}\n\nQuestion: {question}\nAnswer:"


_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation, drop the articles a/an/the, collapse whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def best_subspan_em(prediction: str, answers: list[str]) -> float:
    """1.0 when some normalised gold answer occurs inside the normalised prediction."""
    pred = normalize_answer(prediction)
    return float(any(normalize_answer(a) in pred for a in answers if normalize_answer(a)))


def _contains_any(text: str, answers: Iterable[str]) -> bool:
    norm = normalize_answer(text)
    return any(a and a in norm for a in (normalize_answer(x) for x in answers))


@dataclass(frozen=True)
class QAItem:
    question: str
    answers: tuple[str, ...]
    docs: tuple[tuple[str, str], ...]  # (title, text)
    gold: int  # 0-based position of the gold document
    n_docs: int
    qid: int

    @property
    def prompt(self) -> str:
        return prompt(list(self.docs), self.question)


def positions(n_docs: int, which: Iterable[str | int]) -> list[int]:
    """0-based gold positions: "first" = 0, "middle" = (n_docs - 1) // 2 (the earlier of two middles), "last" =
    n_docs - 1; integers pass through (checked to lie in 0..n_docs-1). Order kept, duplicates kept (n_docs <= 2
    makes names coincide)."""
    at = {"first": 0, "middle": (n_docs - 1) // 2, "last": n_docs - 1}
    out = []
    for w in which:
        p = at.get(w) if isinstance(w, str) else int(w)
        if p is None or not 0 <= p < n_docs:
            raise ValueError(f"kv_retrieval mdqa: position {w!r} is not first/middle/last or in 0..{n_docs - 1}")
        out.append(p)
    return out


# ---------------------------------------------------------------- fictional facts
# Names are glued from syllables so they belong to no real entity; a model can only answer from the documents.
_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "r", "s", "st", "t", "th", "v",
           "w", "z", "vr", "kl")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou", "ia")
_CODAS = ("", "", "l", "n", "r", "s", "th", "m", "nd", "rk", "sh", "lt")
_PLACE_ENDS = ("wick", "ford", "mere", "holt", "dale", "by", "stead", "thorpe", "combe", "ness")

# kind -> what an entity of that kind can be known for (phrases chosen not to contain one another)
_KNOWN_FOR = {
    "quarry": ("pale grey limestone", "red sandstone blocks", "roofing slate", "green marble", "millstones",
               "crushed granite"),
    "observatory": ("its comet surveys", "charts of the southern sky", "a large brass refractor",
                    "records of sunspots", "meteor counts", "hand-drawn moon maps"),
    "guild": ("hand-bound books", "silver buttons", "woollen cloth", "oak barrels", "stained glass",
              "copper kettles"),
    "bridge": ("its seven stone arches", "a painted iron railing", "a toll house at one end", "its timber roof",
               "a hidden stairway", "its lantern posts"),
    "library": ("a collection of sea charts", "old herbals", "its reading garden", "a map room",
                "letters of local poets", "a chained book collection"),
    "mill": ("rye flour", "linen thread", "paper for ledgers", "mustard oil", "rolled oats", "pressed cider"),
    "brewery": ("dark barley ale", "honey mead", "pear cider", "bitter pale beer", "spruce beer", "ginger wine"),
    "shipyard": ("fishing schooners", "river barges", "oak rowing boats", "small ferries", "pilot cutters",
                 "canal narrowboats"),
    "academy": ("training harpists", "its school of surveying", "lessons in clockmaking", "courses in navigation",
                "botanical drawing", "its fencing masters"),
    "foundry": ("church bells", "cast iron stoves", "bronze statues", "ship anchors", "garden gates",
                "printing type"),
}

# Three paragraph shapes (about 45-65 words), every one stating all five attributes
_DOC_TEMPLATES = (
    "The {title} is a {kind} in the town of {town}. It was founded by {founder} in {year}, and over the following "
    "decades it became known for {known}. Today the {kind} is run by {director}, who looks after its daily work and "
    "its small archive of old records. Travellers passing through {town} often stop to visit it.",
    "Founded in {year} by {founder}, the {title} stands on the edge of {town}. Its reputation rests above all on "
    "{known}, which drew buyers and visitors from across the region. The present director, {director}, has kept most "
    "of the old customs, and the {kind} still opens its doors to the public on the first day of each month.",
    "{town} is home to the {title}, which {founder} established in {year}. For generations the {kind} has been known "
    "for {known}. It is currently directed by {director}. Local accounts describe the building as plain but well "
    "kept, and a short history of the {kind} is sold at the gate for a few coins.",
)

_QUESTIONS = {
    "founder": "Who founded the {title}?",
    "year": "In what year was the {title} founded?",
    "town": "In which town is the {title}?",
    "known": "What is the {title} known for?",
    "director": "Who is the current director of the {title}?",
}

_MAX_TRIES = 1000


@dataclass(frozen=True)
class FictionalQuestion:
    """A base question: its gold document and an ordered pool of hard distractors (same kind, same attribute
    types, other values, none containing an answer)."""
    qid: int
    question: str
    answers: tuple[str, ...]
    gold_doc: tuple[str, str]
    distractors: tuple[tuple[str, str], ...]
    kind: str
    attribute: str


def _syllable(rng: random.Random) -> str:
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)


def _word(rng: random.Random, n_syllables: int) -> str:
    return "".join(_syllable(rng) for _ in range(n_syllables)).capitalize()


def _entity(rng: random.Random, kind: str) -> dict:
    return {"name": _word(rng, 2), "kind": kind, "town": _word(rng, 1) + rng.choice(_PLACE_ENDS),
            "founder": f"{_word(rng, 2)} {_word(rng, 2)}", "director": f"{_word(rng, 2)} {_word(rng, 2)}",
            "year": str(rng.randint(1600, 1950)), "known": rng.choice(_KNOWN_FOR[kind])}


def _document(rng: random.Random, e: dict) -> tuple[str, str]:
    title = f"{e['name']} {e['kind'].capitalize()}"
    return title, rng.choice(_DOC_TEMPLATES).format(title=title, **e)


def _one_question(seed: int, qid: int, n_distractors: int) -> FictionalQuestion:
    # a private stream per question: the pool for k distractors is a prefix of the pool for k + 1
    rng = random.Random(f"kv_retrieval-fictional:{seed}:{qid}")
    kind = rng.choice(sorted(_KNOWN_FOR))
    attribute = rng.choice(sorted(_QUESTIONS))
    gold = _entity(rng, kind)
    title, text = _document(rng, gold)
    answers = (gold[attribute],)
    assert _contains_any(text, answers)  # the answer is stated verbatim in the gold document
    names, pool = {gold["name"]}, []
    for _ in range(n_distractors):
        for _ in range(_MAX_TRIES):
            e = _entity(rng, kind)
            doc = _document(rng, e)
            if e["name"] not in names and not _contains_any(f"{doc[0]} {doc[1]}", answers):
                break
        else:
            raise ValueError(f"kv_retrieval mdqa: no distractor without {answers} for question {qid}")
        names.add(e["name"])
        pool.append(doc)
    return FictionalQuestion(qid=qid, question=_QUESTIONS[attribute].format(title=title), answers=answers,
                             gold_doc=(title, text), distractors=tuple(pool), kind=kind, attribute=attribute)


def fictional_questions(n_questions: int, seed: int, n_distractors: int = 29) -> list[FictionalQuestion]:
    """n_questions base questions, deterministic in seed, each with n_distractors hard distractors in order."""
    return [_one_question(seed, q, n_distractors) for q in range(n_questions)]


def fictional_mdqa(n_questions: int, n_docs: int, gold_positions: list[int], seed: int) -> list[QAItem]:
    """Each question at each gold position (question-major order): the first n_docs - 1 distractors of its pool in
    their order, with the gold document inserted at the position."""
    if n_docs < 1:
        raise ValueError(f"kv_retrieval mdqa: n_docs must be >= 1, got {n_docs}")
    gold_positions = positions(n_docs, gold_positions)
    return [place(fq, p, n_docs) for fq in fictional_questions(n_questions, seed, n_docs - 1) for p in gold_positions]


def place(fq: FictionalQuestion, position: int, n_docs: int) -> QAItem:
    """One question with its gold document at `position` among the first n_docs - 1 distractors of its pool."""
    return _item(fq.question, fq.answers, fq.gold_doc, list(fq.distractors), position, n_docs, fq.qid)


def _item(question, answers, gold_doc, distractors, position, n_docs, qid) -> QAItem:
    docs = list(distractors[:n_docs - 1])
    docs.insert(position, gold_doc)
    return QAItem(question=question, answers=tuple(answers), docs=tuple(docs), gold=position, n_docs=n_docs, qid=qid)


# ---------------------------------------------------------------- NQ-Open (Lost in the Middle's oracle file)
def _read_jsonl(path: str) -> list[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _gold_passage(ctxs: list[dict]) -> tuple[str, str] | None:
    if not ctxs:
        return None
    pick = next((c for c in ctxs if c.get("isgold")), None) or next((c for c in ctxs if c.get("hasanswer")), None)
    c = pick or ctxs[0]
    return str(c.get("title", "")), str(c.get("text", ""))


def load_nq_oracle(path: str | None, n_questions: int, n_docs: int, gold_positions: list[int],
                   seed: int) -> list[QAItem] | None:
    """Items from `qa_data/nq-open-oracle.jsonl.gz`, or None (one line on stderr) when the file is absent.

    Questions: a seeded sample of n_questions, kept in file order. Gold document: the ctx marked isgold, else
    hasanswer, else the first. Distractors of a question: the gold passages of the other questions that contain
    none of its answers (normalised) and are not repeats, ranked by TF-IDF cosine similarity to the question, most
    similar first. Never downloads."""
    if path is None or not os.path.exists(path):
        where = "no data_root set" if path is None else f"{path} is absent"
        print(f"kv_retrieval: NQ-Open oracle file not found ({where}); multi-document QA uses the synthetic "
              "fictional-facts set only", file=sys.stderr)
        return None
    from sklearn.feature_extraction.text import TfidfVectorizer

    records = []
    for row in _read_jsonl(path):
        answers = row.get("answers") or []
        answers = [answers] if isinstance(answers, str) else [str(a) for a in answers]
        gold = _gold_passage(row.get("ctxs") or [])
        if row.get("question") and answers and gold:
            records.append((str(row["question"]), tuple(answers), gold))
    if not records or n_docs < 1:
        raise ValueError(f"kv_retrieval mdqa: {path} holds {len(records)} usable questions, n_docs={n_docs}")
    gold_positions = positions(n_docs, gold_positions)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(records)), min(n_questions, len(records))))
    passages = [f"{t} {x}" for _, _, (t, x) in records]
    vec = TfidfVectorizer().fit(passages)
    mat = vec.transform(passages)  # rows are l2-normalised: a dot product is the cosine
    items = []
    for q in chosen:
        question, answers, gold = records[q]
        sims = (mat @ vec.transform([question]).T).toarray().ravel()
        order = sorted(range(len(records)), key=lambda j: (-sims[j], j))
        seen, pool = {gold}, []
        for j in order:
            doc = records[j][2]
            if j == q or doc in seen or _contains_any(f"{doc[0]} {doc[1]}", answers):
                continue
            seen.add(doc)
            pool.append(doc)
            if len(pool) == n_docs - 1:
                break
        if len(pool) < n_docs - 1:
            raise ValueError(f"kv_retrieval mdqa: only {len(pool)} distractors for question {q} in {path}, "
                             f"need {n_docs - 1}")
        items += [_item(question, answers, gold, pool, p, n_docs, q) for p in gold_positions]
    return items
