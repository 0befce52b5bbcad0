"""The engagement domain's reactions to other domains' events: ``account.opened`` welcomes the
new customer (benefits and the beginner's guide), ``trade.executed`` spends a commission waiver
and congratulates a new customer's first trade,
``customer.need_stated`` (the assistant heard a need) becomes a lead for the customer's manager.
Idempotent by event id (:func:`mark_processed` in the same transaction as the writes)."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from sqlalchemy.orm import Session

from brokercare.accounts.events import ACCOUNT_OPENED
from brokercare.accounts.service import accounts_of, trades_between
from brokercare.assistant.events import NEED_STATED
from brokercare.core.bus import Event, EventBus, get_bus
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import session_scope
from brokercare.core.service import mark_processed
from brokercare.customers.service import get_customer
from brokercare.engagement import leads, welcome
from brokercare.market.service import instruments_by_symbol

WELCOME = "engagement.welcome"
WAIVERS = "engagement.benefits"
STATED = "engagement.stated_needs"


def on_account_opened(event: Event) -> None:
    p = event.payload
    with session_scope() as session:
        if not mark_processed(session, WELCOME, event.id):
            return
        customer = get_customer(session, int(p["customer_id"]))
        welcome.welcome(session, customer_id=customer.id, name=customer.name, account_no=p["account_no"],
                        bank_name=p.get("bank_name"), opened_at=datetime.fromisoformat(p["opened_at"]))


def on_trade_executed(event: Event) -> None:
    """The trade's value (amount, else quantity × price) at the customer's cash-account rate spends
    a commission waiver; a new customer's first trade is congratulated."""
    p = event.payload or {}
    if event.customer_id is None:
        return
    customer_id = int(event.customer_id)
    with session_scope() as session:
        held = accounts_of(session, customer_id)
        cash = [a for a in held if a.kind == "cash"]
        if not cash:
            return
        value = Decimal(str(p["amount"])) if p.get("amount") is not None else \
            Decimal(str(p.get("quantity") or 0)) * Decimal(str(p.get("price") or 0))
        welcome.use_commission_waiver(session, customer_id=customer_id, ref=event.id, trade_value=value,
                                      commission_rate=cash[0].commission_rate, at=event.occurred_at)
        _first_trade(session, customer_id, held, p, event.occurred_at)


def _first_trade(session: Session, customer_id: int, held: list, p: dict, at: datetime) -> None:
    """Congratulate the trade if it is the customer's first since opening (no earlier trade is
    booked; the accounts domain may already have booked this one, at this very time)."""
    opened = min(a.opened_on for a in held)
    if not welcome.new_enough(opened, at):
        return
    since_opening = datetime.combine(opened, time.min, tzinfo=SHANGHAI)
    if trades_between(session, [a.id for a in held], since_opening, at):
        return
    symbol = str(p.get("symbol") or "")
    instrument = instruments_by_symbol(session, [symbol]).get(symbol)
    welcome.congratulate_first_trade(
        session, customer_id=customer_id, name=get_customer(session, customer_id).name, side=p.get("side"),
        stock=instrument.name if instrument is not None else f"证券{symbol.split('.')[0]}",
        quantity=Decimal(str(p["quantity"])) if p.get("quantity") else None, at=at)


def on_need_stated(event: Event) -> None:
    if event.customer_id is None:
        return
    with session_scope() as session:
        if not mark_processed(session, STATED, event.id):
            return
        leads.raise_stated(session, customer_id=int(event.customer_id), need_key=event.payload["need"],
                           said=event.payload["said"], day=event.occurred_at.astimezone(SHANGHAI).date())


def subscribe_handlers(bus: EventBus | None = None) -> None:
    bus = bus or get_bus()
    bus.subscribe(ACCOUNT_OPENED, on_account_opened, group=WELCOME)
    bus.subscribe("trade.executed", on_trade_executed, group=WAIVERS)
    bus.subscribe(NEED_STATED, on_need_stated, group=STATED)
