"""The per-customer frequency cap over every proactive contact (``data/contact_policy.yaml``).

Each proactive touch — a daily report push, a lead, a greeting — asks :func:`allow` first; the
answer is recorded as a :class:`~engagement.models.Touch` (sent or held back) in the caller's
transaction, keyed by (customer, kind, ref), so a re-run gets the same answer and the cap is
counted from one table whatever domain job is asking.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.engagement.models import Touch

#: Customers per round of reads (well inside SQLite's limit on bound parameters).
CHUNK = 5_000


class Cap(BaseModel):
    per_day: int = Field(ge=1)
    per_7_days: int = Field(ge=1)


@lru_cache(maxsize=1)
def cap() -> Cap:
    text = resources.files("brokercare.engagement").joinpath("data/contact_policy.yaml").read_text("utf-8")
    return Cap.model_validate(yaml.safe_load(text)["frequency_cap"])


def _sent_counts(session: Session, customers: set[int], since: date, until: date) -> Counter:
    rows = session.execute(select(Touch.customer_id, func.count()).where(
        Touch.customer_id.in_(customers), Touch.sent.is_(True), Touch.day >= since, Touch.day <= until)
        .group_by(Touch.customer_id))
    return Counter(dict(rows.all()))


def allow(session: Session, wanted: list[tuple[int, str]], *, kind: str, day: date,
          limit: Cap | None = None) -> set[tuple[int, str]]:
    """Which ``(customer_id, ref)`` touches of ``kind`` on ``day`` may go out under the cap, in
    the order asked; each answer is recorded (an earlier answer for the same touch stands)."""
    limit = limit or cap()
    ordered = list(dict.fromkeys(wanted))
    customers = sorted({c for c, _ in ordered})
    allowed: set[tuple[int, str]] = set()
    for start in range(0, len(customers), CHUNK):
        part = set(customers[start:start + CHUNK])
        allowed |= _allow_part(session, [w for w in ordered if w[0] in part], kind, day, limit)
    return allowed


def _allow_part(session: Session, wanted: list[tuple[int, str]], kind: str, day: date, limit: Cap) -> set:
    customers = {c for c, _ in wanted}
    rows = session.execute(select(Touch.customer_id, Touch.ref, Touch.sent).where(
        Touch.kind == kind, Touch.customer_id.in_(customers), Touch.ref.in_({r for _, r in wanted})))
    earlier = {(c, r): sent for c, r, sent in rows}
    today = _sent_counts(session, customers, day, day)
    week = _sent_counts(session, customers, day - timedelta(days=6), day)
    allowed, new, now = set(), [], utcnow()
    for cid, ref in wanted:
        if (cid, ref) in earlier:
            if earlier[(cid, ref)]:
                allowed.add((cid, ref))
            continue
        sent = today[cid] < limit.per_day and week[cid] < limit.per_7_days
        if sent:
            today[cid] += 1
            week[cid] += 1
            allowed.add((cid, ref))
        new.append({"customer_id": cid, "kind": kind, "ref": ref, "day": day, "sent": sent, "created_at": now})
    if new:
        session.execute(insert(Touch), new)
    return allowed


def touches_of(session: Session, customer_id: int, *, since: date) -> list[Touch]:
    """A customer's proactive touches from ``since`` on, oldest first (sent and held back)."""
    return list(session.scalars(select(Touch).where(Touch.customer_id == customer_id, Touch.day >= since)
                                .order_by(Touch.day, Touch.id)))
