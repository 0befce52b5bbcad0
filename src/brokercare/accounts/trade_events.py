"""Trades and orders the broker's trading system reports as events (``trade.executed`` and
``order.placed`` from ``POST /api/v1/events``) stored in the accounts domain's trade and order
books, so the customer profile, the daily report and the risk checks read them like imported ones.
A reported order is booked as ``submitted``; its fills arrive as trades, and its final state
(filled, partial, cancelled, rejected) with the end-of-day import.

The event names the customer, not the account: a stock trade is booked to the customer's cash
account (a margin account's trades come through the trading system's own import). The fees are
the exchange's and the broker's rules on the trade's value — the event does not carry them:
commission at the account's rate with the 5 元 minimum, stamp duty of 0.05 % on stock sells, and
the 0.001 % transfer fee on stocks. Positions and cash are not moved here: the trading system's
end-of-day import stays their record, so a trade is never counted twice.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from brokercare.accounts.models import Account, Order, Trade
from brokercare.market.service import instruments_by_symbol

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
MIN_COMMISSION = Decimal("5.00")
STAMP_DUTY = Decimal("0.0005")  # sells only, since 2023-08-28
TRANSFER_FEE = Decimal("0.00001")


def trade_no_of(event_id: str) -> str:
    """The trade's number in the book, stable for one event id (at most 24 characters)."""
    return "EV" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:22]


def fees(kind: str, side: str, amount: Decimal, rate: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(commission, stamp duty, transfer fee) of a trade worth ``amount``."""
    stock = kind == "stock"
    commission = max((amount * rate).quantize(CENT, ROUND_HALF_UP), MIN_COMMISSION if stock else CENT)
    stamp = (amount * STAMP_DUTY).quantize(CENT, ROUND_HALF_UP) if stock and side == "sell" else Decimal("0.00")
    transfer = (amount * TRANSFER_FEE).quantize(CENT, ROUND_HALF_UP) if stock else Decimal("0.00")
    return commission, stamp, transfer


def _bookable(session: Session, number: InstrumentedAttribute, event_id: str, customer_id: int, payload: dict):
    """The customer's cash account and the event's instrument, or ``None`` when the event is already
    in the book (``number``: the book's number column; a redelivered event) or cannot be booked
    (logged): no cash account, an instrument the platform does not list, no price."""
    if session.scalar(select(number).where(number == trade_no_of(event_id))) is not None:
        return None
    account = session.scalar(select(Account).where(Account.customer_id == customer_id, Account.kind == "cash")
                             .order_by(Account.id).limit(1))
    instrument = instruments_by_symbol(session, [payload["symbol"]]).get(payload["symbol"])
    if account is None or instrument is None or payload.get("price") is None:
        log.warning("%s event %s not booked: %s", number.class_.__tablename__, event_id,
                    "no cash account" if account is None else "unknown symbol" if instrument is None else "no price")
        return None
    return account, instrument


def record_order(session: Session, *, event_id: str, customer_id: int, payload: dict,
                 placed_at: datetime) -> Order | None:
    """Book one reported order as ``submitted`` (caller commits); ``None`` when booked before or
    when it cannot be booked (see :func:`_bookable`)."""
    found = _bookable(session, Order.order_no, event_id, customer_id, payload)
    if found is None:
        return None
    account, instrument = found
    order = Order(order_no=trade_no_of(event_id), account_id=account.id, symbol=instrument.symbol,
                  side=payload["side"], price=Decimal(str(payload["price"])),
                  quantity=Decimal(str(payload["quantity"])), filled_quantity=Decimal("0"), status="submitted",
                  channel=(payload.get("channel") or "app")[:12], placed_at=placed_at)
    session.add(order)
    session.flush()
    return order


def record_trade(session: Session, *, event_id: str, customer_id: int, payload: dict,
                 traded_at: datetime) -> Trade | None:
    """Book one reported trade (caller commits); ``None`` when booked before or when it cannot be
    booked (see :func:`_bookable`)."""
    found = _bookable(session, Trade.trade_no, event_id, customer_id, payload)
    if found is None:
        return None
    account, instrument = found
    quantity, price = Decimal(str(payload["quantity"])), Decimal(str(payload["price"]))
    amount = Decimal(str(payload["amount"])) if payload.get("amount") is not None else (quantity * price).quantize(CENT)
    commission, stamp, transfer = fees(instrument.kind, payload["side"], amount, account.commission_rate)
    trade = Trade(trade_no=trade_no_of(event_id), account_id=account.id, symbol=instrument.symbol,
                  side=payload["side"], price=price, quantity=quantity, amount=amount, commission=commission,
                  stamp_duty=stamp, transfer_fee=transfer, traded_at=traded_at)
    session.add(trade)
    session.flush()
    return trade
