"""The customer's assessed risk, as the advisory domain announces it.

The advisory domain owns risk assessments and publishes ``risk.assessed`` after each one commits;
:func:`record_assessed_risk` (run by the event handler) keeps the customer's current
``risk_level`` and the CDP's copy of the latest assessment (``assessed_risks``) in step, so this
domain never reads the advisory domain's table. A bulk load of assessments (the demo brokerage, a
restore) hands the latest ones over at once with :func:`replace_assessed_risks`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, delete, insert, update
from sqlalchemy.orm import Session

from brokercare.customers.models import AssessedRisk, Customer

RISK_ASSESSED = "risk.assessed"


@dataclass(frozen=True)
class Assessed:
    """One customer's latest assessment (``assessments``: how many they have taken in all)."""

    customer_id: int
    assessment_id: int
    level: str
    score: int
    assessed_on: date
    valid_until: date
    assessments: int = 1


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def record_assessed_risk(session: Session, payload: dict) -> None:
    """Count a new assessment and, when it is the latest, make it the customer's risk level.

    ``payload`` is the ``risk.assessed`` payload (customer and assessment ids, level, score and
    ISO dates). Latest means the later ``assessed_on``, then the higher assessment id.
    """
    new = Assessed(int(payload["customer_id"]), int(payload["assessment_id"]), payload["level"],
                   int(payload["score"]), _day(payload["assessed_on"]), _day(payload["valid_until"]))
    row = session.get(AssessedRisk, new.customer_id)
    if row is None:
        row = AssessedRisk(customer_id=new.customer_id, assessments=0)
        session.add(row)
    elif (new.assessed_on, new.assessment_id) < (row.assessed_on, row.assessment_id):
        row.assessments += 1
        session.flush()
        return
    row.assessments = (row.assessments or 0) + 1
    row.assessment_id, row.level, row.score = new.assessment_id, new.level, new.score
    row.assessed_on, row.valid_until = new.assessed_on, new.valid_until
    session.execute(update(Customer).where(Customer.id == new.customer_id).values(risk_level=new.level))
    session.flush()


def replace_assessed_risks(db: Session | Connection, latest: Iterable[Assessed], *, lo: int | None = None,
                           hi: int | None = None) -> int:
    """Replace the copy of customers ``lo..hi`` (all without a range) with these latest assessments,
    one per customer, in the caller's transaction; returns the count.

    Customers' ``risk_level`` is left as loaded: a bulk load writes it with the customers.
    """
    rows = [vars(a) for a in latest]
    stale = delete(AssessedRisk)
    if lo is not None and hi is not None:
        stale = stale.where(AssessedRisk.customer_id.between(lo, hi))
    db.execute(stale)
    for start in range(0, len(rows), 50_000):
        db.execute(insert(AssessedRisk), rows[start:start + 50_000])
    return len(rows)
