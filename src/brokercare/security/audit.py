"""Compliance's view of staff reads of customer data: per customer and per member of staff, each
read with the ledger entry that records it and that entry's RFC 6962 inclusion proof, checked
here against the signed tree head, so the list is evidence and not only a report.

The rows come from ``security_access_reads`` (the index :class:`brokercare.security.access.ReadLog`
writes with each ``access.read`` entry); the proof and the entry's body come from the ledger.
A row whose ledger entry does not name the same staff member, customer and relationship is
shown as not verified.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.errors import ValidationFailed
from brokercare.ledger import service as ledger
from brokercare.security.models import AccessRead


@dataclass(frozen=True)
class ReadRecord:
    """One customer's data read by one member of staff, with its ledger evidence."""

    id: int
    read_at: datetime
    user_id: int
    role: str
    customer_id: int
    relationship: str
    reference: str | None
    what: list[str]
    why: str
    ledger_index: int
    proof: dict
    verified: bool  # the entry names this read and its inclusion proof reaches the signed root

    def as_dict(self) -> dict:
        return asdict(self)


def access_reads(session: Session, *, customer_id: int | None = None, user_id: int | None = None,
                 limit: int = 100, tree_size: int | None = None) -> list[ReadRecord]:
    """The newest reads of one customer's data, or by one member of staff, with their proofs
    (against the current tree, or ``tree_size``). One of ``customer_id`` and ``user_id`` is needed."""
    if customer_id is None and user_id is None:
        raise ValidationFailed("give a customer_id or a user_id (staff member) to list their reads")
    stmt = select(AccessRead).order_by(AccessRead.id.desc()).limit(max(1, min(limit, 500)))
    if customer_id is not None:
        stmt = stmt.where(AccessRead.customer_id == customer_id)
    if user_id is not None:
        stmt = stmt.where(AccessRead.user_id == user_id)
    rows = list(session.scalars(stmt))
    size = tree_size or ledger.size(session)
    proofs = {i: ledger.inclusion(session, i, size) for i in {r.ledger_index for r in rows}}
    bodies = {i: ledger.get_entry(session, i).body for i in proofs}
    return [_record(r, proofs[r.ledger_index], bodies[r.ledger_index]) for r in rows]


def _record(row: AccessRead, proof: dict, body: str) -> ReadRecord:
    return ReadRecord(
        id=row.id, read_at=row.read_at, user_id=row.user_id, role=row.role, customer_id=row.customer_id,
        relationship=row.relationship, reference=row.reference, what=row.what.split(","), why=row.why,
        ledger_index=row.ledger_index, proof=proof,
        verified=_names_read(json.loads(body), row) and ledger.inclusion_holds(proof, body),
    )


def _names_read(body: dict, row: AccessRead) -> bool:
    data = body.get("data") or {}
    return body.get("kind") == "access.read" and data.get("user_id") == row.user_id and any(
        r.get("customer_id") == row.customer_id and r.get("relationship") == row.relationship
        for r in data.get("reads", ()))
