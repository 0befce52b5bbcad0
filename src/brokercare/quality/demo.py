"""Demo hook: the churn model trained on the demo's year (its customers leave as
demo/leavers.py has them) and tonight's scores, so each demo customer manager opens the workbench
with the customers most at risk and the reasons; and today's snapshot of the managers' books."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import ValidationFailed
from brokercare.quality import churn_model, managers


def generate(engine: Engine, rng, summary) -> None:
    """Train, save and score (rng unused: the model's seed is fixed); a demo too small to learn
    from is noted, not an error."""
    with Session(engine) as session:
        snapshot = managers.snapshot_books(session, datetime.now(SHANGHAI).date())
        session.commit()
        summary.add("quality_book_snapshots", snapshot)
        try:
            trained = churn_model.train(session)
        except ValidationFailed as exc:
            summary.notes.append(f"quality: churn model not trained ({exc})")
            return
        churn_model.save(trained)
        scored = churn_model.score(session, trained)
        session.commit()
    ev = trained.evaluation
    summary.add("quality_churn_scores", scored["scored"])
    summary.notes.append(f"quality: churn model AUC {ev.auc_model:.3f} (rules {ev.auc_rules:.3f}), precision at the "
                         f"top 5 % {ev.precision_top_model:.1%} (rules {ev.precision_top_rules:.1%})")
