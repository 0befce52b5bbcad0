"""Read-only tools the assistant uses to personalise a reply with the customer's own data.

Every tool takes the session and the customer id of the conversation and reads only that
customer's rows: there is no parameter through which a message could reach another customer.
Where the owning domain publishes a read service (``accounts.service.positions_of`` /
``margin_status``), the tool calls it; until then it reads the shared tables directly, read-only.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts
from brokercare.accounts.models import Account, CashMovement, Position, Trade
from brokercare.accounts.service import accounts_of_customers, margin_status
from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import NotFound
from brokercare.customers.models import Customer
from brokercare.market.models import Instrument

ZERO = Decimal("0")


def _service(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


@dataclass
class Holding:
    symbol: str
    name: str
    kind: str
    board: str
    quantity: Decimal
    cost_price: Decimal
    price: Decimal | None
    risk_rating: str | None

    @property
    def market_value(self) -> Decimal:
        return (self.price or self.cost_price) * self.quantity

    @property
    def pnl(self) -> Decimal:
        return ((self.price or self.cost_price) - self.cost_price) * self.quantity

    @property
    def pnl_ratio(self) -> float:
        cost = self.cost_price * self.quantity
        return float(self.pnl / cost) if cost else 0.0


@dataclass
class Portfolio:
    holdings: list[Holding]
    cash: Decimal
    today_realised: Decimal = ZERO
    trades_today: int = 0

    @property
    def market_value(self) -> Decimal:
        return sum((h.market_value for h in self.holdings), ZERO)

    @property
    def total_assets(self) -> Decimal:
        return self.market_value + self.cash

    @property
    def pnl(self) -> Decimal:
        return sum((h.pnl for h in self.holdings), ZERO)

    def losers(self) -> list[Holding]:
        return sorted((h for h in self.holdings if h.pnl < 0), key=lambda h: h.pnl)

    def largest(self) -> Holding | None:
        return max(self.holdings, key=lambda h: h.market_value, default=None)

    def concentration(self) -> float:
        top = self.largest()
        mv = self.market_value
        return float(top.market_value / mv) if top and mv else 0.0

    def equity_share(self) -> float:
        total = self.total_assets
        stocks = sum((h.market_value for h in self.holdings if h.kind == "stock"), ZERO)
        return float(stocks / total) if total else 0.0


def customer_of(session: Session, customer_id: int) -> Customer | None:
    return session.get(Customer, customer_id)


_PREFETCHED = "assistant.tools.prefetched"


@contextmanager
def prefetched(session: Session, customer_ids: list[int]) -> Iterator[None]:
    """Within the block, :func:`accounts_of` and :func:`risk_level` of these customers are
    answered from one read each for all of them (the service hub answers a batch of messages at
    once); outside it, and for anyone else, every call reads afresh."""
    ids = sorted({c for c in customer_ids if c is not None})
    try:
        from brokercare.advisory.suitability import current_assessments
    except ImportError:
        current_assessments = None
    session.info[_PREFETCHED] = {
        "accounts": accounts_of_customers(session, ids),  # every id a key
        "assessments": current_assessments(session, ids) if current_assessments else None,
    }
    try:
        yield
    finally:
        session.info.pop(_PREFETCHED, None)


def _prefetched(session: Session, customer_id: int) -> dict | None:
    known = session.info.get(_PREFETCHED)
    return known if known is not None and customer_id in known["accounts"] else None


def accounts_of(session: Session, customer_id: int) -> list[Account]:
    if (known := _prefetched(session, customer_id)) is not None:
        return list(known["accounts"][customer_id])
    return list(accounts.accounts_of(session, customer_id))


def portfolio(session: Session, customer_id: int, *, today: date | None = None) -> Portfolio:
    """The customer's holdings valued at the reference price, cash, and today's realised trading."""
    accounts = accounts_of(session, customer_id)
    ids = [a.id for a in accounts]
    cash = sum((a.cash_balance for a in accounts), ZERO)
    if not ids:
        return Portfolio([], ZERO)
    rows = session.execute(
        select(Position, Instrument).join(Instrument, Instrument.symbol == Position.symbol)
        .where(Position.account_id.in_(ids), Position.quantity > 0)
    ).all()
    merged: dict[str, Holding] = {}
    for pos, inst in rows:
        h = merged.get(inst.symbol)
        if h is None:
            merged[inst.symbol] = Holding(inst.symbol, inst.name, inst.kind, inst.board, pos.quantity,
                                          pos.cost_price, inst.last_price, inst.risk_rating)
        else:
            total = h.quantity + pos.quantity
            h.cost_price = (h.cost_price * h.quantity + pos.cost_price * pos.quantity) / total
            h.quantity = total
    today = today or datetime.now(SHANGHAI).date()
    start = datetime.combine(today, datetime.min.time(), SHANGHAI)
    trades = session.scalars(
        select(Trade).where(Trade.account_id.in_(ids), Trade.traded_at >= start, Trade.traded_at < start + timedelta(days=1))
    ).all()
    realised = ZERO
    for t in trades:
        fees = t.commission + t.stamp_duty + t.transfer_fee
        if t.side == "sell":
            h = merged.get(t.symbol)
            cost = h.cost_price if h else t.price
            realised += (t.price - cost) * t.quantity - fees
        else:
            realised -= fees
    return Portfolio(sorted(merged.values(), key=lambda h: -h.market_value), cash, realised, len(trades))


@dataclass
class TransferView:
    movement_no: str
    direction: str  # in / out
    amount: Decimal
    status: str
    bank: str | None
    occurred_at: datetime


def recent_transfers(session: Session, customer_id: int, *, limit: int = 5) -> list[TransferView]:
    ids = [a.id for a in accounts_of(session, customer_id)]
    if not ids:
        return []
    rows = session.scalars(
        select(CashMovement).where(CashMovement.account_id.in_(ids), CashMovement.kind.in_(("bank_in", "bank_out")))
        .order_by(CashMovement.occurred_at.desc()).limit(limit)
    ).all()
    return [TransferView(r.movement_no, "in" if r.kind == "bank_in" else "out", abs(r.amount), r.status,
                         r.bank_name, r.occurred_at) for r in rows]


@dataclass
class MarginView:
    account_no: str
    ratio: Decimal | None  # None when there is no debt
    warning_line: Decimal
    liquidation_line: Decimal
    withdrawal_line: Decimal
    assets: Decimal
    liabilities: Decimal
    topup_days: int
    extra: dict = field(default_factory=dict)

    def shortfall_to(self, line: Decimal) -> Decimal:
        """Collateral to add so the ratio reaches ``line`` (assets rise with the cash added)."""
        need = line * self.liabilities - self.assets
        return need if need > 0 else ZERO


def margin_views(session: Session, customer_id: int) -> list[MarginView]:
    """Each margin account's maintenance collateral ratio, exactly as the accounts domain computes it
    (``accounts.service.margin_status``: short positions at the reference price, as the workbench and
    the margin monitor see them); an account without a contract is left out."""
    out = []
    for acc in accounts_of(session, customer_id):
        if acc.kind != "margin":
            continue
        try:
            st = margin_status(session, acc.id)
        except NotFound:
            continue
        out.append(MarginView(acc.account_no, st.maintenance_ratio, st.warning_line, st.liquidation_line,
                              st.withdrawal_line, st.total_assets, st.total_liabilities, st.topup_days))
    return out


def ipo_quota(session: Session, customer_id: int, day: date | None = None) -> dict:
    """The monitoring domain's IPO subscription quota for subscription day ``day`` (today in
    Shanghai by default): average daily market value over the 20 trading days ending T-2, per
    exchange, the resulting quotas, any abandonment ban, and a plain-Chinese ``message``."""
    from brokercare.monitoring.ipo import ipo_quota as quota

    return quota(session, customer_id, day or datetime.now(SHANGHAI).date())


def risk_level(session: Session, customer_id: int) -> str | None:
    """The customer's current valid risk category (C1–C5), or None when missing/expired."""
    try:
        from brokercare.advisory.suitability import current_assessment
    except ImportError:
        customer = customer_of(session, customer_id)
        return customer.risk_level if customer else None
    known = _prefetched(session, customer_id)
    if known is not None and known["assessments"] is not None:
        assessment = known["assessments"].get(customer_id)
    else:
        assessment = current_assessment(session, customer_id)
    if assessment is None or assessment.valid_until < datetime.now(SHANGHAI).date():
        return None
    return assessment.level


def suitability_check(session: Session, customer_id: int, product_risk: str):
    """The advisory domain's decision for this customer and a product risk (None if unavailable)."""
    fn = _service("brokercare.advisory.suitability", "check_customer")
    if fn is None:
        return None
    return fn(session, customer_id, product_risk)


def commission_rates(session: Session, customer_id: int) -> list[tuple[str, Decimal]]:
    return [(a.account_no, a.commission_rate) for a in accounts_of(session, customer_id)]


def account_statuses(session: Session, customer_id: int) -> list[tuple[str, str, str]]:
    return [(a.account_no, a.kind, a.status) for a in accounts_of(session, customer_id)]


def market_temperature(session: Session, boards: list[str]) -> dict[str, dict]:
    """The monitoring domain's latest market temperature of ``boards`` (market-wide, no customer
    data): each with ``score``, ``band`` and ``text``, a plain-Chinese sentence. Empty until the
    monitoring workers have evaluated a snapshot."""
    from brokercare.monitoring.service import latest_temperatures

    return latest_temperatures(session, boards)
