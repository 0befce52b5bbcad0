"""Call-backs: what a customer who needs a person is promised while the desk is closed — a
member of staff calls (or writes) back when the desk next opens. One per conversation; the queue
page lists the open ones by due time until someone marks the call made.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound
from brokercare.service.models import Callback, Conversation, Message, Ticket


def promise(session: Session, conv: Conversation, msg: Message, *, skill: str | None, due_at: datetime,
            ticket: Ticket | None, now: datetime) -> Callback:
    """The call-back of ``conv`` (the open one it already has, or a new one due at ``due_at``); left
    for the caller's flush (a batch of routed messages is flushed once)."""
    with session.no_autoflush:
        existing = session.scalar(select(Callback).where(Callback.conversation_id == conv.id))
    if existing is not None and existing.done_at is None:
        return existing
    if existing is not None:  # called back before, and the customer needs a person again
        existing.done_at = existing.done_by_id = None
        existing.due_at, existing.reason, existing.created_at = due_at, msg.text[:500], now
        return existing
    row = Callback(conversation_id=conv.id, contact_id=conv.contact_id, customer_id=conv.customer_id,
                   skill=skill, reason=msg.text[:500], ticket_id=ticket.id if ticket else None,
                   created_at=now, due_at=due_at)
    session.add(row)
    return row


def open_callbacks(session: Session, *, limit: int = 50) -> list[Callback]:
    """The call-backs not made yet, the earliest due first."""
    return list(session.scalars(select(Callback).where(Callback.done_at.is_(None))
                                .order_by(Callback.due_at, Callback.id).limit(limit)))


def callback_of(session: Session, conversation_id: int) -> Callback | None:
    return session.scalar(select(Callback).where(Callback.conversation_id == conversation_id))


def mark_done(session: Session, callback_id: int, *, by_user_id: int, now: datetime | None = None) -> Callback:
    """A member of staff called the customer back."""
    row = session.get(Callback, callback_id)
    if row is None:
        raise NotFound(f"回电任务 {callback_id} 不存在。(callback {callback_id} does not exist)")
    if row.done_at is not None:
        raise Conflict("这个回电任务已经完成。(callback already done)")
    row.done_at, row.done_by_id = now or utcnow(), by_user_id
    session.flush()
    return row
