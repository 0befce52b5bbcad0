"""How well the matcher tells paraphrases from look-alikes, on a broker's (or the shipped) pair set.

``brokercare kb eval --pairs kb_pairs.csv``: pair accuracy and F1 at the matcher's threshold, and
retrieval hit@1/MRR with each positive pair's first sentence as the query against every second
sentence in the file (see docs/assistant-evaluation.md).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from brokercare.assistant.kb.matching import Matcher
from brokercare.assistant.kb.training import get_matcher
from brokercare.core.errors import ValidationFailed


def evaluate_pairs(path: Path) -> dict:
    """Pair accuracy/F1 at the matcher's threshold, and hit@1/MRR of positives against the other side."""
    a, b, y = read_pairs(path)
    m = get_matcher()
    return {**_pair_scores(m, a, b, y), **_retrieval(m, a, b, y)}


def _pair_scores(m: Matcher, a: list[str], b: list[str], y: list[int]) -> dict:
    gold = np.asarray(y)
    pred = (m.score_pairs(a, b) >= m.threshold).astype(int)
    tp = int(np.sum((pred == 1) & (gold == 1)))
    fp = int(np.sum((pred == 1) & (gold == 0)))
    fn = int(np.sum((pred == 0) & (gold == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n_pairs": len(a), "n_positive": int(gold.sum()), "threshold": round(m.threshold, 3),
        "accuracy": round(float(np.mean(pred == gold)), 4), "precision": round(precision, 4),
        "recall": round(recall, 4), "f1": round(f1, 4),
    }


def _retrieval(m: Matcher, a: list[str], b: list[str], y: list[int]) -> dict:
    """Each positive pair's first sentence ranks every distinct second sentence of the file."""
    candidates = sorted(set(b))
    positives = [(a[i], b[i]) for i in range(len(a)) if y[i] == 1]
    hit = mrr = 0.0
    if positives:
        scores = m.rank([q for q, _ in positives], candidates)
        where = {c: j for j, c in enumerate(candidates)}
        for i, (_q, target) in enumerate(positives):
            row = scores[i]
            rank = 1 + int(np.sum(row > row[where[target]]))
            hit += rank == 1
            mrr += 1 / rank
        hit /= len(positives)
        mrr /= len(positives)
    return {"n_queries": len(positives), "n_candidates": len(candidates),
            "hit_at_1": round(hit, 4), "mrr": round(mrr, 4)}


def read_pairs(path: Path) -> tuple[list[str], list[str], list[int]]:
    """``sentence1,sentence2,label`` rows; a clear error for a missing file, header or cell."""
    if not path.exists():
        raise ValidationFailed(f"file not found: {path}")
    reader = csv.DictReader(io.StringIO(path.read_text("utf-8-sig")))
    if not {"sentence1", "sentence2", "label"} <= set(reader.fieldnames or []):
        raise ValidationFailed(f"{path.name}: expected a CSV header sentence1,sentence2,label")
    a, b, y = [], [], []
    for i, row in enumerate(reader, start=2):
        s1, s2, lab = (row["sentence1"] or "").strip(), (row["sentence2"] or "").strip(), (row["label"] or "").strip()
        if lab not in ("0", "1") or not s1 or not s2:
            raise ValidationFailed(f"{path.name}, line {i}: need two sentences and a label of 0 or 1")
        a.append(s1)
        b.append(s2)
        y.append(int(lab))
    if not a:
        raise ValidationFailed(f"{path.name}: no pairs")
    return a, b, y
