"""Churn risk, the model side: a time-split training and evaluation beside the rules baseline, the
model kept in the data dir, the nightly scores with their reasons, and the top risks per manager.

**Never on the future.** The evaluation cut-off is the latest whose label is complete
(``now − WINDOW``); the model it is measured on is trained only on cut-offs whose label windows
end before it (every 30 days back from ``eval − WINDOW``). The model kept for
scoring is then trained again on every cut-off including the evaluation one, and scores each
customer as of ``now``. Gradient boosting (scikit-learn's ``HistGradientBoostingClassifier``,
fixed seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import joblib
import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.customers import service as customers
from brokercare.quality import churn
from brokercare.quality.churn import FEATURES, REASON_GROUPS, TOP_SHARE, WINDOW
from brokercare.quality.models import ChurnScore

TRAIN_CUTOFFS = 3  # training cut-offs, 30 days apart
STEP = timedelta(days=30)
MIN_DROP = 0.01  # a sign is a reason when the risk falls by this much without it
REASONS = 3


@dataclass
class Evaluation:
    """One run's measured figures (docs/churn-model-card.md): the model and the rules baseline on
    the same held-out cut-off."""

    eval_cutoff: datetime
    train_cutoffs: list[datetime]
    train_rows: int
    train_left: int
    eval_rows: int
    eval_left: int
    auc_model: float
    auc_rules: float
    precision_top_model: float
    precision_top_rules: float
    base_rate: float
    importance: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out["eval_cutoff"] = self.eval_cutoff.isoformat()
        out["train_cutoffs"] = [c.isoformat() for c in self.train_cutoffs]
        return out


@dataclass
class Trained:
    model: HistGradientBoostingClassifier
    medians: dict[str, float]  # the training population's, for the reasons
    trained_at: datetime
    cutoffs: list[datetime]
    evaluation: Evaluation
    features: tuple[str, ...] = FEATURES  # what it was trained on: a kept model of others is stale


def cutoffs(now: datetime) -> tuple[datetime, list[datetime]]:
    """The evaluation cut-off and the training ones before it, none of whose label windows reach
    past the evaluation cut-off."""
    eval_cutoff = now.astimezone(UTC) - WINDOW
    last_train = eval_cutoff - WINDOW
    return eval_cutoff, [last_train - i * STEP for i in range(TRAIN_CUTOFFS)][::-1]


def new_model() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40,
                                          l2_regularization=1.0, random_state=7)


def _xy(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame.select(FEATURES).to_numpy().astype(float), frame["left"].to_numpy().astype(int)


def _history(session: Session, moments: list[datetime], now: datetime) -> pl.DataFrame:
    conn, assets = session.connection(), churn.assets_now(session)
    return pl.concat([churn.labelled(conn, c, now=now, assets=assets) for c in moments])


def _fit(frame: pl.DataFrame) -> HistGradientBoostingClassifier:
    x, y = _xy(frame)
    if y.sum() < 5 or y.sum() == len(y):
        raise ValidationFailed(f"too little history to learn from: {int(y.sum())} of {len(y)} customers left")
    return new_model().fit(x, y)


def _importance(model: HistGradientBoostingClassifier, frame: pl.DataFrame) -> dict[str, float]:
    """How much the AUC falls when one feature is shuffled (fixed seed)."""
    x, y = _xy(frame)
    base = roc_auc_score(y, model.predict_proba(x)[:, 1])
    rng, out = np.random.default_rng(0), {}
    for i, name in enumerate(FEATURES):
        shuffled = x.copy()
        shuffled[:, i] = rng.permutation(shuffled[:, i])
        out[name] = round(float(base - roc_auc_score(y, model.predict_proba(shuffled)[:, 1])), 4)
    return out


def evaluate(session: Session, *, now: datetime | None = None) -> tuple[Evaluation, pl.DataFrame]:
    """Train on the earlier cut-offs, measure AUC and precision at the riskiest 5 % on the held-out
    one beside the rules baseline. Returns the figures and every cut-off's labelled rows."""
    now = now or utcnow()
    eval_cutoff, train_cutoffs = cutoffs(now)
    history = _history(session, [*train_cutoffs, eval_cutoff], now)
    train = history.filter(pl.col("cutoff") < eval_cutoff)
    held = history.filter(pl.col("cutoff") == eval_cutoff)
    model = _fit(train)
    x, y = _xy(held)
    if y.sum() == 0 or y.sum() == len(y):
        raise ValidationFailed("the evaluation cut-off has customers of one outcome only; AUC is undefined")
    model_score, rules = model.predict_proba(x)[:, 1], churn.rules_score(held)
    return Evaluation(
        eval_cutoff=eval_cutoff, train_cutoffs=train_cutoffs, train_rows=train.height,
        train_left=int(train["left"].sum()), eval_rows=held.height, eval_left=int(y.sum()),
        auc_model=round(float(roc_auc_score(y, model_score)), 4), auc_rules=round(float(roc_auc_score(y, rules)), 4),
        precision_top_model=round(churn.precision_at_top(y, model_score), 4),
        precision_top_rules=round(churn.precision_at_top(y, rules), 4), base_rate=round(float(y.mean()), 4),
        importance=_importance(model, held)), history


def train(session: Session, *, now: datetime | None = None) -> Trained:
    """Evaluate, then fit the model kept for scoring on every cut-off (the evaluation one too)."""
    now = now or utcnow()
    evaluation, history = evaluate(session, now=now)
    model = _fit(history)
    medians = {f: float(np.nanmedian(history[f].to_numpy())) for f in FEATURES}
    return Trained(model, medians, now, [*evaluation.train_cutoffs, evaluation.eval_cutoff], evaluation)


# --- the model file ----------------------------------------------------------------------------

def model_path() -> Path:
    return get_settings().data_dir / "models" / "churn.joblib"


def save(trained: Trained, path: Path | None = None) -> Path:
    path = path or model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(trained, path)
    return path


def load(path: Path | None = None) -> Trained:
    path = path or model_path()
    if not path.exists():
        raise NotFound(f"no churn model at {path}: run `brokercare quality churn train` first")
    return joblib.load(path)


# --- scoring -----------------------------------------------------------------------------------

def reasons(trained: Trained, frame: pl.DataFrame, risk: np.ndarray) -> list[list[str]]:
    """Per row, the warning signs that raise its risk most (the risk with a group of features set
    to the population's medians, one group at a time), up to three, in Chinese."""
    x = frame.select(FEATURES).to_numpy().astype(float)
    drops = {}
    for group, names in REASON_GROUPS.items():
        typical = x.copy()
        for name in names:
            typical[:, FEATURES.index(name)] = trained.medians[name]
        drops[group] = risk - trained.model.predict_proba(typical)[:, 1]
    rows = frame.to_dicts()
    out = []
    for i, row in enumerate(rows):
        ranked = sorted((g for g in REASON_GROUPS if drops[g][i] >= MIN_DROP), key=lambda g: -drops[g][i])
        out.append([churn.reason_text(g, row) for g in ranked[:REASONS]] or ["多项行为指标综合偏弱"])
    return out


def score(session: Session, trained: Trained, *, now: datetime | None = None, explain_share: float = 0.2) -> dict:
    """Score every open customer active in the last 90 days as of ``now`` and store the day's
    scores (a rerun replaces them). Reasons are worked out for the riskiest ``explain_share``."""
    now = now or utcnow()
    conn = session.connection()
    frame = churn.features(conn, now).join(customers.managers_frame(conn).filter(pl.col("open")),
                                           on="customer_id", how="inner")
    day = now.astimezone(SHANGHAI).date()
    session.execute(delete(ChurnScore).where(ChurnScore.scored_on == day))
    if frame.is_empty():
        return {"day": day.isoformat(), "scored": 0, "top": 0}
    risk = trained.model.predict_proba(frame.select(FEATURES).to_numpy().astype(float))[:, 1]
    order = np.argsort(-risk, kind="stable")
    top_k = max(1, int(np.ceil(TOP_SHARE * len(risk))))
    explain = order[:max(top_k, int(np.ceil(explain_share * len(risk))))]
    why = dict(zip(explain.tolist(), reasons(trained, frame[explain], risk[explain]), strict=True))
    top = set(order[:top_k].tolist())
    ids, managers = frame["customer_id"].to_list(), frame["manager_id"].to_list()
    session.execute(ChurnScore.__table__.insert(), [
        {"scored_on": day, "customer_id": ids[i], "manager_id": managers[i], "score": float(risk[i]),
         "top_share": i in top, "reasons": why.get(i, []), "model_trained_at": trained.trained_at}
        for i in range(len(ids))])
    session.flush()
    return {"day": day.isoformat(), "scored": len(ids), "top": top_k}


def latest_day(session: Session) -> date | None:
    return session.scalar(select(func.max(ChurnScore.scored_on)))


def top_risks(session: Session, *, manager_id: int | None, limit: int = 20) -> list[ChurnScore]:
    """The latest night's riskiest customers: one manager's book, or everyone's (None)."""
    day = latest_day(session)
    if day is None:
        return []
    stmt = (select(ChurnScore).where(ChurnScore.scored_on == day)
            .order_by(ChurnScore.score.desc(), ChurnScore.customer_id).limit(limit))
    if manager_id is not None:
        stmt = stmt.where(ChurnScore.manager_id == manager_id)
    return list(session.scalars(stmt))
