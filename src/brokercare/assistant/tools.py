"""Read-only tools the assistant uses to personalise a reply with the customer's own data.

Every tool takes the session and the customer id of the conversation and reads only that
customer's data, through the owning domain's service (accounts, customers, advisory, monitoring):
there is no parameter through which a message could reach another customer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts
from brokercare.accounts.schemas import FundOrderOut, TransferOut
from brokercare.advisory import service as advisory
from brokercare.core.amounts import format_amount
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import session_scope
from brokercare.core.errors import DomainError, NotFound
from brokercare.customers import service as customers
from brokercare.market import service as market
from brokercare.monitoring import service as monitoring
from brokercare.security.service import users_by_id

ZERO = Decimal("0")


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
    price_at: datetime | None = None  # the price's as-of time (None: reference price or cost)
    price_stale: bool = False

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

    @property
    def cash_like(self) -> bool:
        """Money-market funds and reverse repos park cash: no concentration or price risk to warn of."""
        return self.kind == "repo" or (self.kind in ("fund", "etf") and self.board == "money")

    @property
    def noun(self) -> str:
        """What the customer calls it: 这只股票, 这只基金, 这只债券."""
        return {"stock": "股票", "fund": "基金", "etf": "基金", "bond": "债券", "convertible": "债券"}.get(
            self.kind, "证券")


@dataclass
class Portfolio:
    holdings: list[Holding]
    cash: Decimal
    today_realised: Decimal = ZERO
    trades_today: int = 0
    transit: tuple = ()  # redemptions' proceeds on their way (accounts.service.in_transit)

    @property
    def market_value(self) -> Decimal:
        return sum((h.market_value for h in self.holdings), ZERO)

    @property
    def in_transit(self) -> Decimal:
        return sum((t.amount for t in self.transit), ZERO)

    @property
    def total_assets(self) -> Decimal:
        return self.market_value + self.cash + self.in_transit

    def transit_note(self) -> str:
        """Said after the available cash when redemption money is on its way: it is the customer's,
        but cannot be spent or transferred out before it arrives."""
        if not self.transit:
            return ""
        last = max(t.expected_on for t in self.transit)
        return (f"，另有基金赎回在途资金{format_amount(self.in_transit, yuan_digits=2)}"
                f"（预计{last.month}月{last.day}日前到账，到账后才能使用或转出）")

    @property
    def pnl(self) -> Decimal:
        return sum((h.pnl for h in self.holdings), ZERO)

    def losers(self) -> list[Holding]:
        return sorted((h for h in self.holdings if h.pnl < 0), key=lambda h: h.pnl)

    def price_note(self) -> str:
        """Said after the market value when its prices are not live, so an old close is never
        presented as today's market (empty when every price is current)."""
        stale = [h for h in self.holdings if h.price_stale]
        if not stale:
            return ""
        dated = [h.price_at for h in stale if h.price_at is not None]
        if not dated:
            return "（按参考价估算，不是实时行情）"
        return f"（按 {min(dated).astimezone(SHANGHAI):%m 月 %d 日}的价格计算，不是实时行情）"

    def largest(self) -> Holding | None:
        """The largest holding that carries market risk (cash parked in a money fund does not)."""
        return max((h for h in self.holdings if not h.cash_like), key=lambda h: h.market_value, default=None)

    def concentration(self) -> float:
        """The largest risky holding's share of the market value."""
        top = self.largest()
        mv = self.market_value
        return float(top.market_value / mv) if top and mv else 0.0

    def equity_share(self) -> float:
        total = self.total_assets
        stocks = sum((h.market_value for h in self.holdings if h.kind == "stock"), ZERO)
        return float(stocks / total) if total else 0.0


def customer_of(session: Session, customer_id: int):
    """The customer's record from the customers service, or None for an unknown id."""
    try:
        return customers.get_customer(session, customer_id)
    except NotFound:
        return None


def manager_of(session: Session, customer_id: int) -> str | None:
    """The name of the customer's dedicated manager, if they have one."""
    customer = customer_of(session, customer_id)
    if customer is None or customer.manager_id is None:
        return None
    staff = users_by_id(session, [customer.manager_id]).get(customer.manager_id)
    return staff.display_name if staff is not None else None


_PREFETCHED = "assistant.tools.prefetched"


@contextmanager
def prefetched(session: Session, customer_ids: list[int]) -> Iterator[None]:
    """Within the block, :func:`accounts_of` and :func:`risk_level` of these customers are
    answered from one read each for all of them (the service hub answers a batch of messages at
    once); outside it, and for anyone else, every call reads afresh."""
    ids = sorted({c for c in customer_ids if c is not None})
    session.info[_PREFETCHED] = {
        "accounts": accounts.accounts_of_customers(session, ids),  # every id a key
        "risk_levels": advisory.risk_levels(session, ids),  # every id a key
    }
    try:
        yield
    finally:
        session.info.pop(_PREFETCHED, None)


def _prefetched(session: Session, customer_id: int) -> dict | None:
    known = session.info.get(_PREFETCHED)
    return known if known is not None and customer_id in known["accounts"] else None


def accounts_of(session: Session, customer_id: int) -> list:
    """The customer's accounts (the accounts service's records), cash account first."""
    if (known := _prefetched(session, customer_id)) is not None:
        return list(known["accounts"][customer_id])
    return list(accounts.accounts_of(session, customer_id))


def portfolio(session: Session, customer_id: int, *, today: date | None = None) -> Portfolio:
    """The customer's holdings valued at the reference price, cash, and today's realised trading."""
    own = accounts_of(session, customer_id)
    cash = sum((a.cash_balance for a in own), ZERO)
    if not own:
        return Portfolio([], ZERO)
    merged = _merged_holdings(accounts.positions_of(session, customer_id))
    today = today or datetime.now(SHANGHAI).date()
    start = datetime.combine(today, datetime.min.time(), SHANGHAI)
    trades = accounts.trades_between(session, [a.id for a in own], start, start + timedelta(days=1))
    return Portfolio(sorted(merged.values(), key=lambda h: -h.market_value), cash,
                     _realised(trades, merged), len(trades), tuple(accounts.in_transit(session, [a.id for a in own])))


def _merged_holdings(positions: list[accounts.ValuedPosition]) -> dict[str, Holding]:
    """One holding per security across the customer's accounts, at the quantity-weighted cost."""
    merged: dict[str, Holding] = {}
    for pos in positions:
        h = merged.get(pos.symbol)
        if h is None:
            merged[pos.symbol] = Holding(pos.symbol, pos.name, pos.kind, pos.board, pos.quantity, pos.cost_price,
                                         None if pos.priced_at_cost else pos.last_price, pos.risk_rating,
                                         pos.price_at, pos.price_stale)
        else:
            total = h.quantity + pos.quantity
            h.cost_price = (h.cost_price * h.quantity + pos.cost_price * pos.quantity) / total
            h.quantity = total
    return merged


def _realised(trades: list, holdings: dict[str, Holding]) -> Decimal:
    """Today's realised result after fees: sells against the holding's cost, buys as fees only."""
    realised = ZERO
    for t in trades:
        fees = t.commission + t.stamp_duty + t.transfer_fee
        if t.side == "sell":
            h = holdings.get(t.symbol)
            cost = h.cost_price if h else t.price
            realised += (t.price - cost) * t.quantity - fees
        else:
            realised -= fees
    return realised


@dataclass
class TransferView:
    movement_no: str
    direction: str  # in / out
    amount: Decimal
    status: str
    bank: str | None
    occurred_at: datetime


def recent_transfers(session: Session, customer_id: int, *, limit: int = 5) -> list[TransferView]:
    """The latest 银证转账: the platform's own transfers (with those still in progress) and the
    history imported as cash movements, newest first."""
    own = [t for t in accounts.transfers_of(session, customer_id, limit=limit)
           if t.state not in ("proposed", "expired")]
    status = {"confirmed": "done", "failed": "failed", "rejected": "failed", "reversed": "failed"}
    views = [TransferView(t.transfer_no, t.direction, t.amount, status.get(t.state, "pending"),
                          t.bank_name, t.requested_at) for t in own]
    seen = {v.movement_no for v in views}
    rows = accounts.recent_bank_transfers(session, [a.id for a in accounts_of(session, customer_id)], limit=limit)
    views += [TransferView(r.movement_no, "in" if r.kind == "bank_in" else "out", abs(r.amount), r.status,
                           r.bank_name, r.occurred_at) for r in rows if r.movement_no not in seen]
    return sorted(views, key=lambda v: v.occurred_at, reverse=True)[:limit]


def propose_transfer(customer_id: int, direction: str, amount: Decimal) -> TransferOut:
    """Record the transfer the customer asked for, to be done on their explicit confirmation.
    Its own transaction: the proposal stands whatever becomes of the conversation's write."""
    with session_scope() as session:
        return accounts.propose_transfer(session, customer_id=customer_id, direction=direction,
                                         amount=amount)


def confirm_transfer(customer_id: int) -> TransferOut | None:
    """The customer confirmed: the proposal becomes a transfer (committed), then goes to the bank."""
    with session_scope() as session:
        out = accounts.confirm_transfer_proposal(session, customer_id=customer_id)
    if out is not None and out.state == "requested" and not out.replayed:
        with session_scope() as session:
            out = accounts.send_transfer(session, out.transfer_no)
    return out


# What a customer calls a fund they want to buy: a 6-digit code, or the index or theme it follows.
_FUND_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
_FUND_THEME = re.compile(r"沪深300|中证500|中证1000|上证50|科创50|创业板|红利|黄金|可转债|国债|信用债")


@dataclass
class FundChoice:
    symbol: str | None  # None: the message does not say which fund
    theme: str | None
    candidates: list[str] = field(default_factory=list)  # "名称（代码）" to ask among


def fund_to_buy(session: Session, customer_id: int, text: str) -> FundChoice:
    """The OTC fund a purchase request means: the code it gives; else a fund of the theme the
    customer already holds; else the broker's own shelf fund of that theme."""
    for code in _FUND_CODE.findall(text):
        if f"{code}.OF" in market.instruments_by_symbol(session, [f"{code}.OF"]):
            return FundChoice(f"{code}.OF", None)
    theme = m.group(0) if (m := _FUND_THEME.search(text)) else None
    if theme is None:
        return FundChoice(None, None)
    held = [p.symbol for p in accounts.positions_of(session, customer_id)
            if p.kind == "fund" and theme in p.name]
    shelf = [f["symbol"] for f in advisory.shelf_funds(theme)]
    if held or shelf:
        return FundChoice((held or shelf)[0], theme)
    found = market.find_instruments(session, theme, kind="fund", limit=3)
    return FundChoice(None, theme, [f"{i.name}（{i.code}）" for i in found])


def propose_fund_subscription(customer_id: int, symbol: str, amount: Decimal) -> FundOrderOut:
    """Record the subscription the customer asked for, placed only on their explicit confirmation
    (its own transaction, like a proposed transfer)."""
    with session_scope() as session:
        return accounts.propose_subscription(session, customer_id=customer_id, symbol=symbol,
                                             amount=amount, suitability=advisory)


def confirm_fund_subscription(customer_id: int) -> FundOrderOut | None:
    """The customer confirmed (after reading any suitability warning): the proposal is placed."""
    with session_scope() as session:
        return accounts.confirm_subscription_proposal(session, customer_id=customer_id,
                                                      suitability=advisory)


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
            st = accounts.margin_status(session, acc.id)
        except NotFound:
            continue
        out.append(MarginView(acc.account_no, st.maintenance_ratio, st.warning_line, st.liquidation_line,
                              st.withdrawal_line, st.total_assets, st.total_liabilities, st.topup_days))
    return out


def ipo_quota(session: Session, customer_id: int, day: date | None = None) -> dict:
    """The monitoring domain's IPO subscription quota for subscription day ``day`` (today in
    Shanghai by default): average daily market value over the 20 trading days ending T-2, per
    exchange, the resulting quotas, any abandonment ban, and a plain-Chinese ``message``."""
    return monitoring.ipo_quota(session, customer_id, day)


def risk_level(session: Session, customer_id: int) -> str | None:
    """The customer's current valid risk category (C1–C5), or None when missing/expired."""
    if (known := _prefetched(session, customer_id)) is not None:
        return known["risk_levels"][customer_id]
    return advisory.risk_levels(session, [customer_id])[customer_id]


def suitability_check(session: Session, customer_id: int, product_risk: str) -> advisory.SuitabilityDecision:
    """The advisory domain's decision for this customer and a product risk (R1–R5)."""
    return advisory.suitability_of(session, customer_id, product_risk)


def commission_rates(session: Session, customer_id: int) -> list[tuple[str, Decimal]]:
    return [(a.account_no, a.commission_rate) for a in accounts_of(session, customer_id)]


def account_statuses(session: Session, customer_id: int) -> list[tuple[str, str, str]]:
    return [(a.account_no, a.kind, a.status) for a in accounts_of(session, customer_id)]


def stock_quote(session: Session, symbol: str) -> dict | None:
    """The latest price of one instrument with its time and staleness (None without a price)."""
    try:
        return market.quote_of(session, symbol)
    except DomainError:
        return None


def market_temperature(session: Session, boards: list[str]) -> dict[str, dict]:
    """The monitoring domain's latest market temperature of ``boards`` (market-wide, no customer
    data): each with ``score``, ``band`` and ``text``, a plain-Chinese sentence. Empty until the
    monitoring workers have evaluated a snapshot."""
    return monitoring.latest_temperatures(session, boards)
