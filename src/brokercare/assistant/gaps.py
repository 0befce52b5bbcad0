"""FAQ gaps: the questions the knowledge base could not answer, grouped by meaning for the person
who writes the FAQ.

Every hand-off with ``no_kb_answer`` is a row of the labelled pool. The sentence encoder turns each
question into a vector; each question's ten nearest (by cosine) are candidates, and the encoder's
trained same-meaning head links a candidate pair at probability ≥ :data:`LINK`. Groups are formed
leader-first: the question with the most links starts a group and takes its linked questions not
yet in a group, then the next, and so on — so one long chain of loosely similar questions does not
become a single group, as connected components would. The group's *representative* is the
question closest to the others (what to write the FAQ entry for), and groups are listed by how many
customers asked, most first.

``LINK`` = 0.7 is where the head's pair F1 peaks on the project's FAQ paraphrases (each paraphrase's
ten nearest, same concept = positive): chosen on training data, not on any evaluation set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from brokercare.assistant import pool
from brokercare.assistant.encoder import get_encoder
from brokercare.core.database import utcnow

LINK = 0.7
NEIGHBOURS = 10


@dataclass
class Gap:
    question: str  # the representative question
    asked: int  # how many hand-offs asked it
    examples: list[str]  # distinct wordings, the representative first
    first_asked: datetime
    last_asked: datetime
    row_ids: list[int]

    def as_dict(self) -> dict:
        return {"question": self.question, "asked": self.asked, "examples": self.examples,
                "first_asked": self.first_asked.isoformat(), "last_asked": self.last_asked.isoformat(),
                "row_ids": self.row_ids}


def cluster(vectors: np.ndarray, *, link: float = LINK) -> list[list[int]]:
    """Groups of row indices of ``vectors`` (the encoder's) with the same meaning, largest first."""
    n = len(vectors)
    if not n:
        return []
    encoder = get_encoder()
    links: list[set[int]] = [set() for _ in range(n)]
    if n > 1:
        k = min(NEIGHBOURS, n - 1)
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        a = np.repeat(np.arange(n), k)
        b = near.ravel()
        prob = encoder.same_meaning_probability(vectors[a], vectors[b])
        for i, j, p in zip(a.tolist(), b.tolist(), prob.tolist(), strict=True):
            if p >= link:
                links[i].add(j)
                links[j].add(i)
    groups: list[list[int]] = []
    taken = np.zeros(n, dtype=bool)
    for leader in sorted(range(n), key=lambda i: (-len(links[i]), i)):
        if taken[leader]:
            continue
        members = [leader] + sorted(j for j in links[leader] if not taken[j])
        taken[members] = True
        groups.append(members)
    groups.sort(key=lambda g: (-len(g), g[0]))
    return groups


def faq_gaps(session: Session, *, days: int = 30, now: datetime | None = None, limit: int = 50) -> list[Gap]:
    """The unanswered questions of the last ``days`` days, grouped; the most asked first."""
    since = (now or utcnow()) - timedelta(days=days)
    rows = pool.unanswered_questions(session, since=since)
    texts = [r.text for r in rows]
    gaps = []
    vectors = get_encoder().encode(texts)
    for members in cluster(vectors)[:limit]:
        centre = vectors[members].mean(axis=0)
        best = members[int(np.argmax(vectors[members] @ centre))]
        wordings = list(dict.fromkeys([texts[best]] + [texts[i] for i in members]))
        times = [rows[i].created_at for i in members]
        gaps.append(Gap(texts[best], len(members), wordings[:5], min(times), max(times),
                        sorted(rows[i].id for i in members)))
    return gaps
