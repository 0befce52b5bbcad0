"""Publish an event once the transaction that wrote its facts has committed.

A domain's service writes in the caller's transaction and the caller commits; an event published
before that commit would reach handlers that cannot see the rows yet (and, with the in-process bus,
which dispatches synchronously in the publisher's thread, would make a SQLite handler wait on the
publisher's own write lock). :func:`publish_after_commit` holds the event on the session and
publishes it from the session's ``after_commit`` hook; a rollback drops it, and so does the rollback
of a savepoint that was open when the event was held.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from brokercare.core.bus import Event, get_bus, validate_event

_HELD = "brokercare.events_after_commit"


def publish_after_commit(session: Session, evt: Event) -> None:
    """Publish ``evt`` on the process's bus when ``session`` commits (payload checked now)."""
    validate_event(evt)
    session.info.setdefault(_HELD, []).append((evt, session.get_nested_transaction()))


def _within(held: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while held is not None:
        if held is ended:
            return True
        held = held.parent
    return False


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    if session.in_nested_transaction():
        return  # SQLAlchemy also reports a released savepoint as a commit; the outer one decides
    held = session.info.pop(_HELD, [])
    bus = get_bus() if held else None
    for evt, _ in held:
        bus.publish(evt)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction: SessionTransaction) -> None:
    held = session.info.get(_HELD)
    if not held:
        return
    if not previous_transaction.nested:
        session.info.pop(_HELD, None)
        return
    session.info[_HELD] = [(e, t) for e, t in held if not _within(t, previous_transaction)]
