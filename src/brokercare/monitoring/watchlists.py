"""Read-only lists for the risk desk and the workbench: the latest alerts across all customers
and the margin accounts closest to (or under) their lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.accounts.service import margin_status
from brokercare.core.errors import DomainError
from brokercare.monitoring.models import Alert, MarginCall


def recent_alerts(session: Session, *, limit: int = 50, severity: str | None = None) -> list[Alert]:
    stmt = select(Alert).order_by(Alert.fired_at.desc(), Alert.id.desc()).limit(limit)
    if severity:
        stmt = stmt.where(Alert.severity == severity)
    return list(session.scalars(stmt))


def alerts_since(session: Session, since: datetime, *, rules: tuple[str, ...]) -> list[Alert]:
    """The alerts of these ``rules`` fired at or after ``since``, oldest first (engines that act
    on them, such as engagement's emergency tasks for managers)."""
    return list(session.scalars(select(Alert).where(Alert.fired_at >= since, Alert.rule.in_(rules))
                                .order_by(Alert.fired_at, Alert.id)))


@dataclass(frozen=True)
class MarginWatch:
    account_id: int
    contract_id: int
    line: str
    ratio: Decimal
    deadline: date
    status: str


def open_margin_calls(session: Session, *, limit: int = 50) -> list[MarginWatch]:
    """Open top-up demands, one per contract (its latest call: a contract called again as its ratio
    kept falling is one case, not ten rows), worst ratio first."""
    latest = (select(func.max(MarginCall.id)).where(MarginCall.status == "open")
              .group_by(MarginCall.contract_id).scalar_subquery())
    rows = session.scalars(select(MarginCall).where(MarginCall.id.in_(latest))
                           .order_by(MarginCall.ratio.asc()).limit(limit))
    return [MarginWatch(r.account_id, r.contract_id, r.line, r.ratio, r.deadline, r.status) for r in rows]


def settle_margin_calls(session: Session, today: date) -> dict[str, int]:
    """Close what is past: an open call superseded by a later call on its contract is one case, not
    two (``superseded``); a contract whose ratio is back at or above its warning line (or that has no
    debt left) has ``met`` its call. A call still below its line stays open, past its deadline shown
    as 已逾期，待处置 until the broker disposes of it. Caller commits."""
    counts = {"superseded": 0, "met": 0, "still_open": 0, "overdue": 0}
    calls = list(session.scalars(select(MarginCall).where(MarginCall.status == "open")
                                 .order_by(MarginCall.contract_id, MarginCall.id.desc())))
    latest: dict[int, MarginCall] = {}
    for call in calls:
        if call.contract_id in latest:
            call.status = "superseded"
            counts["superseded"] += 1
        else:
            latest[call.contract_id] = call
    for call in latest.values():
        try:
            state = margin_status(session, call.account_id)
        except DomainError:  # the account or its contract is gone: nothing to measure against
            continue
        if state.maintenance_ratio is None or state.maintenance_ratio >= state.warning_line:
            call.status = "met"
            counts["met"] += 1
        else:
            counts["still_open"] += 1
            counts["overdue"] += call.deadline < today
    session.flush()
    return counts
