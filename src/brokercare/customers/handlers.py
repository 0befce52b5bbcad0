"""Incremental profile updates: events about one customer recompute that customer's profile.

A ``risk.assessed`` event (published by the advisory domain after the assessment commits) first
updates the customer's risk level and the CDP's copy of the latest assessment, then the profile,
in one transaction: an assessment taken in BrokerCare shows in the profile at once.

The handler is idempotent (the event id is recorded with :func:`mark_processed` in the same
transaction as the profile), so the Redis Streams backend's at-least-once delivery never counts
an event twice. Tier changes are announced only after the transaction commits.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from brokercare.accounts.service import customer_of_account
from brokercare.core.bus import Event, EventBus, get_bus
from brokercare.core.database import session_scope
from brokercare.core.service import mark_processed
from brokercare.customers.models import BehaviourEvent
from brokercare.customers.risk import RISK_ASSESSED, record_assessed_risk
from brokercare.customers.service import TierMove, publish_tier_move, refresh_profile

log = logging.getLogger(__name__)

CONSUMER = "customers.profiles"

#: Events after which a customer's profile is recomputed at once (``realtime`` features).
TRIGGERS = (
    "trade.executed",
    "order.placed",
    "login.succeeded",
    "transfer.completed",
    RISK_ASSESSED,
    "position.changed",
    "customer.updated",
    "behaviour.recorded",
    "margin.updated",
)


def _customer_of(session: Session, event: Event) -> int | None:
    if event.customer_id is not None:
        return int(event.customer_id)
    payload = event.payload or {}
    if payload.get("customer_id") is not None:
        return int(payload["customer_id"])
    if payload.get("account_id") is not None:
        return customer_of_account(session, int(payload["account_id"]))
    return None


def on_event(event: Event) -> TierMove | None:
    """Recompute the profile of the customer the event concerns."""
    move = None
    with session_scope() as session:
        customer_id = _customer_of(session, event)
        if customer_id is None:
            log.warning("%s %s names no customer or account; profile not refreshed", event.type, event.id)
            return None
        if not mark_processed(session, CONSUMER, event.id):
            return None
        if event.type == RISK_ASSESSED:
            record_assessed_risk(session, event.payload)
        if event.type in BEHAVIOUR:
            _store_behaviour(session, customer_id, event)
        _, move = refresh_profile(session, customer_id)
    if move is not None:
        publish_tier_move(move)
    return move


#: Events whose facts are behaviour the CDP keeps (a login's IP and device, a page view, a search).
BEHAVIOUR = ("login.succeeded", "behaviour.recorded")


def _store_behaviour(session: Session, customer_id: int, event: Event) -> None:
    """Keep the behaviour an event reports, so the profile computed next counts it."""
    p = event.payload or {}
    kind = "login" if event.type == "login.succeeded" else p.get("type")
    if kind not in ("login", "page_view", "search", "content_read"):
        return
    session.add(BehaviourEvent(
        customer_id=customer_id, occurred_at=event.occurred_at, kind=kind, channel=(p.get("channel") or "app")[:12],
        page=p.get("page"), query=p.get("query"), topic=p.get("topic"), ip=p.get("ip"),
        device_id=p.get("device_id"), geo_city=p.get("city"), duration_s=p.get("duration_s")))
    session.flush()


def subscribe(bus: EventBus | None = None) -> None:
    bus = bus or get_bus()
    for event_type in TRIGGERS:
        bus.subscribe(event_type, on_event, group=CONSUMER)
