"""How well the detector does on a labelled event file: precision, recall and false-positive rate
per scenario kind and overall.

An event counts as flagged when its decision is anything but ``allow``. Only the evaluation
window counts (``phase == "eval"`` when the file has that column): the weeks before are the
history each customer's baseline is built from. For a kind, the negatives are the normal events of
the same types as that kind's events (a burst of orders is judged against normal orders, a
takeover login against normal logins), so each kind's false-positive rate is the share of
ordinary customers doing the same thing who were bothered.
"""

from __future__ import annotations

import time

import polars as pl

from brokercare.risk.batch import score_frame
from brokercare.risk.rules import Rules
from brokercare.risk.scenarios import KINDS, TAKEOVER_KINDS

#: The promise: takeover logins caught at least this often, while at most this share of
#: normal logins is asked for a second factor.
TARGET_TAKEOVER_RECALL = 0.90
TARGET_LOGIN_STEP_UP = 0.01


def _rates(tp: int, fp: int, positives: int, negatives: int) -> dict:
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / positives, 4) if positives else None,
        "fpr": round(fp / negatives, 4) if negatives else None,
        "positives": positives, "negatives": negatives, "true_positives": tp, "false_positives": fp,
    }


def _counts(frame: pl.DataFrame) -> tuple[int, int, int, int]:
    attack = frame["label"] == 1
    flagged = frame["action"] != "allow"
    return (int((attack & flagged).sum()), int((~attack & flagged).sum()),
            int(attack.sum()), int((~attack).sum()))


def evaluate(frame: pl.DataFrame, *, rules: Rules | None = None) -> dict:
    """Score ``frame`` (an event file with ``label`` and ``kind``) and report the rates."""
    if not {"label", "kind"} <= set(frame.columns):
        raise ValueError("the event file has no labels (columns 'label' and 'kind'): generate one "
                         "with `brokercare risk scenarios`")
    started = time.perf_counter()
    scored = score_frame(frame, rules=rules)
    seconds = time.perf_counter() - started
    if "phase" in scored.columns:
        scored = scored.filter(pl.col("phase") == "eval")
    report = _rates(*_counts(scored))
    normal = scored.filter(pl.col("label") == 0)
    per_kind = {}
    for kind in KINDS:
        attacks = scored.filter(pl.col("kind") == kind)
        types = attacks["type"].unique().to_list()
        same = normal.filter(pl.col("type").is_in(types))
        per_kind[kind] = _rates(*_counts(pl.concat([attacks, same])))
        per_kind[kind]["by_action"] = dict(attacks.group_by("action").len().iter_rows())
    takeover = scored.filter(pl.col("kind").is_in(TAKEOVER_KINDS) & pl.col("type").is_in(["login", "login_failed"]))
    tk_tp, _, tk_pos, _ = _counts(takeover)
    logins = normal.filter(pl.col("type") == "login")
    stepped = int((logins["action"] != "allow").sum())
    takeover_recall = round(tk_tp / tk_pos, 4) if tk_pos else None
    login_rate = round(stepped / len(logins), 4) if len(logins) else None
    return {
        **report,
        "per_kind": per_kind,
        "takeover_login_recall": takeover_recall,
        "normal_login_step_up_rate": login_rate,
        "targets": {
            "takeover_login_recall_min": TARGET_TAKEOVER_RECALL,
            "normal_login_step_up_max": TARGET_LOGIN_STEP_UP,
            "met": bool(takeover_recall is not None and login_rate is not None
                        and takeover_recall >= TARGET_TAKEOVER_RECALL and login_rate <= TARGET_LOGIN_STEP_UP),
        },
        "events_scored": len(frame),
        "events_evaluated": len(scored),
        "scoring_seconds": round(seconds, 3),
        "rules_version": (rules.version if rules else None),
    }
