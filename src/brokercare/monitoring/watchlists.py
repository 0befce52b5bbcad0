"""Read-only lists for the risk desk and the workbench: the latest alerts across all customers
and the margin accounts closest to (or under) their lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    """Open top-up demands, worst ratio first."""
    rows = session.scalars(select(MarginCall).where(MarginCall.status == "open")
                           .order_by(MarginCall.ratio.asc()).limit(limit))
    return [MarginWatch(r.account_id, r.contract_id, r.line, r.ratio, r.deadline, r.status) for r in rows]
