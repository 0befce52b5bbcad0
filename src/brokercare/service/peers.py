"""The service hub's calls into other domains, through their published service contracts only.

Kept in one place so the hub's business code reads as plain function calls and the contracts it
depends on are visible at a glance: customer profile and holdings (customers/accounts), the
assistant's analysis and reply, the tamper-evident ledger. Where the customers/accounts read
services are not installed, the same facts are read (read-only) from their tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return None
        raise


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _or_missing(fn, *args: Any, default: Any = None) -> Any:  # noqa: ANN001
    """``fn(*args)``, or ``default`` where the owning domain says the record does not exist."""
    try:
        return fn(*args)
    except Exception as exc:
        if type(exc).__name__ != "NotFound":
            raise
        return default


_LEDGER_BATCH = "service.ledger_batch"


def ledger_append(session: Session, kind: str, subject: str, data: dict) -> None:
    """Append to the tamper-evident ledger in the caller's transaction (inside
    :func:`ledger_batch`: when the batch ends)."""
    pending = session.info.get(_LEDGER_BATCH)
    if pending is not None:
        pending.append((kind, subject, data))
        return
    from brokercare.ledger.service import append

    append(session, kind, subject, data)


def ledger_append_many(session: Session, entries: list[tuple[str, str, dict]]) -> None:
    """Append ``(kind, subject, data)`` entries under one head update (a batch of messages)."""
    from brokercare.ledger.service import append_many

    append_many(session, entries)


@contextmanager
def ledger_batch(session: Session) -> Iterator[None]:
    """Within the block the hub's ledger entries (routing decisions, ticket state changes) are
    collected, and appended in their order when it ends: one take of the ledger's head lock for
    a batch of messages, taken last, instead of one per entry. The hub's writes inside are left
    to one flush as well (see :func:`batching`)."""
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


def preload_customers(session: Session, customer_ids: list[int]) -> list[Any]:
    """Customer records of a batch in one read; the caller holds the list so later lookups of
    each (:func:`customer`) are answered from the session's identity map."""
    from brokercare.customers.service import get_customers

    return get_customers(session, [c for c in customer_ids if c is not None])


def customer(session: Session, customer_id: int | None) -> Any:
    """The customer record (``None`` for a prospect or an unknown id)."""
    if customer_id is None:
        return None
    customers = _module("brokercare.customers.service")
    if customers is not None and hasattr(customers, "get_customer"):
        return _or_missing(customers.get_customer, session, customer_id)
    from brokercare.customers.models import Customer

    return session.get(Customer, customer_id)


def tiers_and_managers(session: Session, customer_ids: list[int]) -> dict[int, tuple[str, int | None]]:
    """Tier and dedicated manager of each customer in one read (the routing hot path, per batch);
    a customer the customers domain does not know counts as mass, with no manager."""
    from brokercare.customers.service import tiers_and_managers as read

    ids = [c for c in customer_ids if c is not None]
    found = read(session, ids) if ids else {}
    return {cid: found.get(cid, ("mass", None)) for cid in ids}


def customer_manager_id(session: Session, customer_id: int | None) -> int | None:
    if customer_id is None:
        return None
    customers = _module("brokercare.customers.service")
    if customers is not None and hasattr(customers, "get_customer"):
        return _get(_or_missing(customers.get_customer, session, customer_id), "manager_id")
    from brokercare.customers.models import Customer

    return session.scalar(select(Customer.manager_id).where(Customer.id == customer_id))


def holdings(session: Session, customer_id: int | None) -> list[dict]:
    """The customer's positions as ``{symbol, name, quantity, market_value}`` dicts."""
    if customer_id is None:
        return []
    accounts = _module("brokercare.accounts.service")
    if accounts is not None and hasattr(accounts, "positions_of"):
        out = []
        for p in accounts.positions_of(session, customer_id):
            mv = _get(p, "market_value")
            out.append({
                "symbol": _get(p, "symbol"),
                "name": _get(p, "name") or _get(_get(p, "instrument"), "name"),
                "quantity": str(_get(p, "quantity")),
                "market_value": str(mv) if mv is not None else None,
            })
        return out
    from brokercare.accounts.models import Account, Position
    from brokercare.market.models import Instrument

    rows = session.execute(
        select(Position.symbol, Instrument.name, Position.quantity, Instrument.last_price)
        .join(Account, Account.id == Position.account_id)
        .join(Instrument, Instrument.symbol == Position.symbol)
        .where(Account.customer_id == customer_id)
    ).all()
    return [
        {
            "symbol": s,
            "name": n,
            "quantity": str(q),
            "market_value": str((q * p).quantize(Decimal("0.01"))) if p is not None else None,
        }
        for s, n, q, p in rows
    ]


def account_frozen(session: Session, customer_id: int | None) -> bool:
    if customer_id is None:
        return False
    accounts = _module("brokercare.accounts.service")
    if accounts is not None and hasattr(accounts, "accounts_of"):
        return any(_get(a, "status") == "frozen" for a in accounts.accounts_of(session, customer_id))
    from brokercare.accounts.models import Account

    return (
        session.scalar(
            select(Account.id).where(Account.customer_id == customer_id, Account.status == "frozen")
        )
        is not None
    )


def assistant_prefetched(session: Session, customer_ids: list[int]):  # noqa: ANN201
    """The assistant's batch context (one read of accounts and risk levels for all these
    customers' replies), or a no-op if the assistant has none."""
    prefetch = getattr(assistant(), "prefetched", None)
    return prefetch(session, customer_ids) if prefetch is not None else nullcontext()


def assistant():
    """The assistant's service module, or None while it is not installed."""
    return _module("brokercare.assistant.service")
