"""``brokercare nlu retrain``: the desk's labels make a candidate model, which replaces the active
one only if it is no worse on the frozen evaluation sets.

The candidate is trained from the shipped training sentences plus every confirmed label in the
labelled pool (:mod:`brokercare.assistant.pool`), minus any pooled sentence that repeats one of the
evaluation sets (normalised: width, case, spaces and punctuation) — a model must not be judged on
what it was taught. Candidate and active model are measured in the same run on
``data/eval/intent_test.csv``: accuracy, macro-F1 and out-of-scope recall. The candidate is stored
as the next version with both sets of figures; it is promoted (made active) only when no measure
falls more than ``tolerance`` below the active model's, so one agent's mislabel cannot quietly
make the assistant worse. ``brokercare nlu rollback`` returns to the previous version.

Only the intent model learns from the pool: every desk signal is about which intent a customer
meant; emotion labels do not come from the desk.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy.orm import Session

from brokercare.assistant import pool, registry
from brokercare.assistant.classifier import evaluate, fingerprint, parse_labelled_csv
from brokercare.assistant.lexicon import DATA
from brokercare.assistant.nlu import OUT_OF_SCOPE

TASK = "intent"
#: How far below the active model a measure may fall before the candidate is rejected.
TOLERANCE = 0.005
EVAL_SET = "intent_test.csv"
#: Every frozen set whose sentences the pool may not train on.
FROZEN_SETS = (("intent_test.csv", "text"), ("emotion_test.csv", "text"),
               ("kb_pairs.csv", "sentence1"), ("kb_pairs.csv", "sentence2"))
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalised(text: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


@lru_cache(maxsize=1)
def frozen_texts() -> frozenset[str]:
    """Normalised sentences of every evaluation set (never trained on)."""
    import csv
    import io

    out: set[str] = set()
    for name, column in FROZEN_SETS:
        raw = DATA.joinpath("eval", name).read_text("utf-8-sig")
        out.update(normalised(row[column]) for row in csv.DictReader(io.StringIO(raw)))
    return frozenset(out)


@lru_cache(maxsize=1)
def _eval_set() -> tuple[list[str], list[str]]:
    return parse_labelled_csv(DATA.joinpath("eval", EVAL_SET).read_text("utf-8-sig"), name=EVAL_SET)


def measures(model) -> dict[str, float]:
    """The gate's figures for one model on the frozen intent evaluation set."""
    texts, gold = _eval_set()
    report = evaluate(gold, model.predict(texts))
    oos = report["per_label"].get(OUT_OF_SCOPE, {}).get("recall", 0.0)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "out_of_scope_recall": oos}


@dataclass
class RetrainResult:
    outcome: str  # promoted, rejected, unchanged
    version: str | None  # the candidate's, when one was trained
    active: str  # the version in use afterwards
    pool_rows: int
    excluded: int  # pooled sentences left out because they repeat an evaluation set
    candidate: dict[str, float] = field(default_factory=dict)
    current: dict[str, float] = field(default_factory=dict)
    worse: dict[str, tuple[float, float]] = field(default_factory=dict)  # measure -> (active, candidate)

    def as_dict(self) -> dict:
        return {**self.__dict__, "worse": {k: list(v) for k, v in self.worse.items()}}


def training_data(session: Session) -> tuple[list[str], list[str], int, int]:
    """Shipped sentences plus the pool's confirmed labels: texts, labels, pooled rows used, excluded."""
    texts, labels = registry.shipped_data(TASK)
    frozen = frozen_texts()
    used = excluded = 0
    for text, label in pool.labelled_examples(session):
        key = normalised(text)
        if key in frozen:
            excluded += 1
            continue
        texts.append(text)
        labels.append(label)
        used += 1
    return texts, labels, used, excluded


def retrain(session: Session, *, tolerance: float = TOLERANCE, force: bool = False) -> RetrainResult:
    """Train, measure and (maybe) promote a candidate; see the module docstring. ``force``: train
    even when the pool taught nothing new since the active model."""
    texts, labels, used, excluded = training_data(session)
    active_model, active_info = registry.load(TASK)
    if not force and fingerprint(texts, labels) == active_info.fingerprint:
        return RetrainResult("unchanged", None, active_info.version, used, excluded)
    candidate = registry.build_model(TASK, texts, labels)
    new, old = measures(candidate), measures(active_model)
    worse = {k: (old[k], new[k]) for k in new if new[k] < old[k] - tolerance}
    outcome = "rejected" if worse else "promoted"
    note = "; ".join(f"{k} {a:.4f} → {b:.4f}" for k, (a, b) in worse.items())
    info = registry.store(TASK, candidate, texts, labels, source=f"shipped + desk pool ({used})",
                          metrics={"candidate": new, "active_before": old, "active_version": active_info.version,
                                   "tolerance": tolerance},
                          status=outcome, pool_rows=used, note=note)
    if outcome == "promoted":
        registry.activate_version(TASK, info.version)
    return RetrainResult(outcome, info.version, registry.active_version(TASK), used, excluded, new, old, worse)
