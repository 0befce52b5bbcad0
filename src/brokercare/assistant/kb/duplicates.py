"""Possible duplicate FAQ entries on ``kb import``: an imported question that means the same as
another entry (in the same file, already in the knowledge base, or a starter entry) with different
wording — two answers to one question drift apart, and the matcher must pick between them.

The sentence encoder proposes each question's nearest entries by cosine; the knowledge base's
matcher — its same-meaning decision, which fuses the encoder with the lexical and concept
features — confirms a pair at its trained threshold. (The encoder's own pair head alone is too
loose: on the starter FAQ it links 24 pairs of distinct questions such as 可转债怎么申购 / 可转债怎么
转股 at ≥ 0.9, where the fused decision links none.) These are warnings for the knowledge owner,
never a refusal: "开户需要带哪些材料" repeats "开户需要准备什么材料？", but "融券费率怎么算" and
"融资利率是多少？" look alike and are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brokercare.assistant.encoder import get_encoder

NEAREST = 3


@dataclass(frozen=True)
class Duplicate:
    question: str  # the imported one
    other: str  # the entry it seems to repeat
    where: str  # "file", "knowledge base" or "starter FAQ"
    probability: float

    def warning(self) -> str:
        return (f"possible duplicate ({self.probability:.2f}): {self.question!r} asks the same as "
                f"{self.where} entry {self.other!r}")


def find_duplicates(imported: list[str], others: list[tuple[str, str]], matcher) -> list[Duplicate]:
    """Imported questions that repeat another imported one or one of ``others`` ((question, where)),
    each pair once, most certain first. Identical wording is not reported (the import merges it)."""
    if not imported:
        return []
    pool = [(q, "file") for q in imported] + [o for o in others if o[0] not in set(imported)]
    encoder = get_encoder()
    vectors = encoder.encode([q for q, _ in pool])
    query = vectors[: len(imported)]
    sims = query @ vectors.T
    sims[np.arange(len(imported)), np.arange(len(imported))] = -np.inf
    k = min(NEAREST, len(pool) - 1)
    if k <= 0:
        return []
    near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(imported)), k)
    prob = matcher.score_pairs([imported[i] for i in rows.tolist()], [pool[j][0] for j in near.ravel().tolist()])
    found: dict[frozenset, Duplicate] = {}
    for i, j, p in zip(rows.tolist(), near.ravel().tolist(), prob.tolist(), strict=True):
        other, where = pool[j]
        key = frozenset((imported[i], other))
        if p >= matcher.threshold and other != imported[i] and key not in found:
            found[key] = Duplicate(imported[i], other, where, round(float(p), 3))
    return sorted(found.values(), key=lambda d: -d.probability)
