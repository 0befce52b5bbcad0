"""The hub's entries in the tamper-evident ledger (routing decisions, ticket state changes).

A batch of messages routed together appends its entries under one take of the ledger's head
lock (:func:`ledger_batch`) instead of one per entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from brokercare.ledger import service as ledger

_LEDGER_BATCH = "service.ledger_batch"


def ledger_append(session: Session, kind: str, subject: str, data: dict) -> None:
    """Append to the ledger in the caller's transaction (inside :func:`ledger_batch`: when the
    batch ends)."""
    pending = session.info.get(_LEDGER_BATCH)
    if pending is not None:
        pending.append((kind, subject, data))
        return
    ledger.append(session, kind, subject, data)


def ledger_append_many(session: Session, entries: list[tuple[str, str, dict]]) -> None:
    """Append ``(kind, subject, data)`` entries under one head update (a batch of messages)."""
    ledger.append_many(session, entries)


@contextmanager
def ledger_batch(session: Session) -> Iterator[None]:
    """Within the block the hub's ledger entries are collected and appended in their order when
    it ends, taken last; the hub's writes inside are left to one flush as well (:func:`batching`)."""
    entries: list = []
    session.info[_LEDGER_BATCH] = entries
    try:
        yield
    finally:
        session.info.pop(_LEDGER_BATCH, None)
    ledger_append_many(session, entries)


def batching(session: Session) -> bool:
    """Inside :func:`ledger_batch`: leave rows to the batch's flush rather than flushing each."""
    return _LEDGER_BATCH in session.info
