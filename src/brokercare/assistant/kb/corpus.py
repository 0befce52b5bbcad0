"""The shipped texts the knowledge base answers from and the matcher learns from: the starter FAQ,
customer paraphrases of its questions, hand-written hard pairs, and the reference corpus that
fixes BM25's idf and the TF-IDF vocabulary. None of it comes from ``data/eval``.
"""

from __future__ import annotations

import csv
import io
import re

from brokercare.assistant import registry
from brokercare.assistant.kb.lexical import CONTRASTS, contrast_terms
from brokercare.assistant.lexicon import DATA

#: Every shipped file the trained matcher depends on (its cache key).
MATCHER_DATA = ("faq_starter.csv", "faq_paraphrases.csv", "kb_pairs_train.csv", "synonyms.yaml",
                "finance_terms.tsv")


def _read_csv(name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(DATA.joinpath(name).read_text("utf-8"))))


def starter_faq() -> list[tuple[str, str, str | None]]:
    return [(r["question"], r["answer"], r.get("intent") or None) for r in _read_csv("faq_starter.csv")]


def paraphrases() -> list[tuple[str, str]]:
    """(customer paraphrase, the FAQ question it asks)."""
    return [(r["paraphrase"], r["question"]) for r in _read_csv("faq_paraphrases.csv")]


def concept_data() -> tuple[list[str], list[str]]:
    """Texts labelled with the FAQ question they ask: each question itself plus its paraphrases."""
    pairs = [(q, q) for q, _a, _i in starter_faq()] + paraphrases()
    return [p for p, _q in pairs], [q for _p, q in pairs]


def answer_openings() -> tuple[list[str], list[str]]:
    """The first sentence of each FAQ answer, as one more example of its question's concept: an
    answer names the terms a customer may use instead of the question's ("资金密码用于银证转账")."""
    faq = starter_faq()
    return [answer_opening(a) for _q, a, _i in faq], [q for q, _a, _i in faq]


def answer_opening(answer: str) -> str:
    return re.split(r"(?<=[。！？])", answer, maxsplit=1)[0][:80]


def hand_pairs() -> list[tuple[str, str, int]]:
    return [(r["sentence1"], r["sentence2"], int(r["label"])) for r in _read_csv("kb_pairs_train.csv")]


def reference_corpus() -> list[str]:
    texts, _labels = registry.shipped_data("intent")
    faq = starter_faq()
    return texts + [q for q, _a, _i in faq] + [a for _q, a, _i in faq] + [p for p, _q in paraphrases()]


def contrast_pairs(texts: list[str], limit: int = 3) -> list[tuple[str, str]]:
    """Sentences with one contrast term swapped for another of its group ("资金密码忘了" →
    "交易密码忘了"): nearly the same characters, a different question."""
    out = []
    for t in texts:
        made = 0
        for g, found in contrast_terms(t).items():
            if len(found) != 1 or made >= limit:
                continue
            (term,) = found
            start = t.lower().find(term.lower())
            for other in CONTRASTS[g]:
                if other != term and made < limit:
                    out.append((t, t[:start] + other + t[start + len(term):]))
                    made += 1
    return out
