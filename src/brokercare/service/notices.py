"""Staff notices on the workbench: the SLA warnings and breaches the hub raises for the owner of
a ticket or chat (or their team lead), unread until the person marks them read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.service.models import StaffNotice


def staff_notices(session: Session, user_id: int, *, unread_only: bool = True, limit: int = 20) -> list[StaffNotice]:
    """The member of staff's notices, newest first."""
    stmt = select(StaffNotice).where(StaffNotice.user_id == user_id)
    if unread_only:
        stmt = stmt.where(StaffNotice.read_at.is_(None))
    return list(session.scalars(stmt.order_by(StaffNotice.id.desc()).limit(limit)))


def mark_notices_read(session: Session, user_id: int, *, now: datetime | None = None) -> int:
    """Mark every unread notice of the member of staff read; how many were."""
    result = session.execute(update(StaffNotice).where(
        StaffNotice.user_id == user_id, StaffNotice.read_at.is_(None)).values(read_at=now or utcnow()))
    return result.rowcount or 0
