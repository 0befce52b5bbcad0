"""Kernel services used by every domain's event handlers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brokercare.core.models import ProcessedEvent


def already_processed(session: Session, consumer: str, event_id: str) -> bool:
    return (
        session.scalar(
            select(ProcessedEvent.id).where(
                ProcessedEvent.consumer == consumer, ProcessedEvent.event_id == event_id
            )
        )
        is not None
    )


def mark_processed(session: Session, consumer: str, event_id: str) -> bool:
    """Record that ``consumer`` handled ``event_id`` inside the caller's transaction.

    Returns False when another delivery got there first; the caller then rolls back its writes.
    """
    try:
        with session.begin_nested():
            session.add(ProcessedEvent(consumer=consumer, event_id=event_id))
            session.flush()
    except IntegrityError:
        return False
    return True
