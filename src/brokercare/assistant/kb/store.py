"""The searchable FAQ: the shipped starter FAQ plus the entries a broker imported (``kb_entries``),
matched by meaning with the trained matcher, and rebuilt in a process only when entries change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.assistant.kb.corpus import starter_faq
from brokercare.assistant.kb.lexical import PUNCT
from brokercare.assistant.kb.matching import CandidateIndex, probability_linear
from brokercare.assistant.kb.training import get_matcher
from brokercare.assistant.lexicon import get_lexicon
from brokercare.assistant.models import KbEntry

#: An entry tagged with the message's intent gets this small prior; it never overrides meaning.
INTENT_PRIOR = 0.03


@dataclass(frozen=True)
class KbHit:
    question: str
    answer: str
    intent: str | None
    source: str
    score: float
    matched: bool  # score at or above the matcher's threshold

    def as_source(self) -> dict:
        return {"type": "kb", "question": self.question, "source": self.source, "score": round(self.score, 3)}


class KnowledgeBase:
    """The searchable FAQ: the shipped starter FAQ plus everything the broker imported.

    An imported entry with the same normalised question replaces the starter entry.
    """

    def __init__(self, entries: list[tuple[str, str, str | None, str]]) -> None:
        self.entries = entries
        self.matcher = get_matcher()
        self.concepts = self.matcher.with_questions([(e[0], e[1]) for e in entries])
        self._enc = self.matcher.encode([e[0] for e in entries], concepts=self.concepts) if entries else None
        self._index = CandidateIndex(self._enc) if entries else None

    @classmethod
    def load(cls, session: Session | None) -> KnowledgeBase:
        merged: dict[str, tuple[str, str, str | None, str]] = {}
        for q, a, i in starter_faq():
            merged[question_key(q)] = (q, a, i, "starter FAQ")
        if session is not None:
            for e in session.scalars(select(KbEntry).where(KbEntry.active.is_(True))):
                merged[e.question_key] = (e.question, e.answer, e.intent, e.source)
        return cls(list(merged.values()))

    def search(self, query: str, k: int = 3, *, intent: str | None = None) -> list[KbHit]:
        if not self.entries or self._enc is None:
            return []
        feats = self.matcher.features_one(query, self._enc, self._index, self.concepts)
        p = probability_linear(self.matcher.fusion, feats)
        if intent is not None:
            tagged = np.array([e[2] == intent for e in self.entries])
            p = np.where(tagged, np.minimum(1.0, p + INTENT_PRIOR), p)
        order = np.argsort(-p)[:k]
        th = self.matcher.threshold
        return [KbHit(self.entries[j][0], self.entries[j][1], self.entries[j][2], self.entries[j][3],
                      float(p[j]), bool(p[j] >= th)) for j in order]


_kb_cache: dict[str, KnowledgeBase] = {}

#: How long a process answers from its loaded knowledge base before it asks the database whether
#: entries changed (an import elsewhere shows within this delay; every reply asking would cost a
#: query per message on the service hub's hot path).
KB_RECHECK_S = 1.0
_kb_checked: dict[str, tuple[float, str]] = {}


def knowledge_base(session: Session | None) -> KnowledgeBase:
    """The knowledge base for this database, rebuilt only when its entries changed or the matcher
    did (a promoted intent model: the entries' encodings are the matcher's)."""
    matcher = get_matcher()
    stamp = "none"
    if session is not None:
        url = str(session.get_bind().url)
        checked = _kb_checked.get(url)
        if (checked is not None and time.monotonic() - checked[0] < KB_RECHECK_S and checked[1] in _kb_cache
                and _kb_cache[checked[1]].matcher is matcher):
            return _kb_cache[checked[1]]
        row = session.execute(select(func.count(KbEntry.id), func.max(KbEntry.updated_at))).one()
        stamp = f"{url}|{row[0]}|{row[1]}"
        _kb_checked[url] = (time.monotonic(), stamp)
    kb = _kb_cache.get(stamp)
    if kb is None or kb.matcher is not matcher:
        kb = KnowledgeBase.load(session)
        _kb_cache.clear()
        _kb_cache[stamp] = kb
    return kb


def entries_changed() -> None:
    """Make this process look at the database again on its next search (it just imported)."""
    _kb_checked.clear()


def question_key(question: str) -> str:
    return PUNCT.sub("", get_lexicon().normalise(question))[:500]
