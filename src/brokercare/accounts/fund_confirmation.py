"""T+1 confirmation of fund orders from the fund companies' NAV file (基金份额确认).

NAV files: ``<data dir>/inbox/fund-nav/nav_<YYYYMMDD>.csv`` (UTF-8 or GBK), one row per fund with
columns ``fund_code,nav_date,unit_nav``; ``brokercare funds load-nav FILE`` loads any file of that
shape (the shipped excerpt of real NAVs included). Loading the same file again changes nothing; a
bad row refuses the whole file with its row number.

On the trading day after an order's NAV day, with that day's NAV loaded, the order is confirmed
once, in one transaction: a subscription's units ((amount − fee) / NAV, rounded down to 0.01) go to
the position and a new lot, its cash leaves the account; a redemption takes its units from the
oldest lots first, pays the holding-period fee of each, and its proceeds (units × NAV − fee) are
in transit until the fund type's settlement day (:mod:`fund_settlement`), when the job
``accounts.settle_fund_redemptions`` credits them. An order whose NAV has not arrived waits for
the next run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from brokercare.accounts.fund_fees import Lot, fee_rules, redeem, subscribe
from brokercare.accounts.fund_settlement import settle_day_for
from brokercare.accounts.funds import PROPOSAL_TTL, publish_steps
from brokercare.accounts.inbox import read_checked
from brokercare.accounts.models import Account, CashMovement, FundLot, FundNav, FundOrder, Position
from brokercare.core.after_commit import publish_after_commit
from brokercare.core.bus import Event
from brokercare.core.database import utcnow
from brokercare.core.settings import get_settings
from brokercare.ledger.service import append as ledger_append
from brokercare.market.events import POSITION_EVENT
from brokercare.market.service import instruments_by_symbol, load_daily_bars

log = logging.getLogger(__name__)

COLUMNS = ("fund_code", "nav_date", "unit_nav")


@dataclass(frozen=True)
class NavRow:
    symbol: str
    nav_date: date
    nav: Decimal


def nav_inbox() -> Path:
    return get_settings().data_dir / "inbox" / "fund-nav"


def nav_file(day: date) -> Path:
    return nav_inbox() / f"nav_{day:%Y%m%d}.csv"


def _row(rec: dict, line: int) -> NavRow:
    code = (rec.get("fund_code") or "").strip().upper()
    if not (len(code) == 6 and code.isdigit()) and not code.endswith(".OF"):
        raise ValueError(f"row {line}: fund_code {code!r} is not a 6-digit fund code")
    try:
        nav = Decimal((rec.get("unit_nav") or "").strip())
        day = date.fromisoformat((rec.get("nav_date") or "").strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"row {line}: nav_date must be YYYY-MM-DD and unit_nav a number") from None
    if not nav.is_finite() or nav <= 0:
        raise ValueError(f"row {line}: unit_nav {nav} must be positive")
    return NavRow(code if "." in code else f"{code}.OF", day, nav.quantize(Decimal("0.0001")))


def read_nav_file(path: Path) -> list[NavRow]:
    """Every row of a NAV file, or ValidationFailed naming each bad row (nothing is loaded)."""
    return read_checked(path, COLUMNS, _row, refused="nothing loaded")


def load_navs(session: Session, rows: Iterable[NavRow], *, source: str) -> dict[str, int]:
    """Insert new NAVs and correct changed ones (a fund company's republished NAV)."""
    rows = list(rows)
    days = {r.nav_date for r in rows}
    known = {(n.symbol, n.nav_date): n for n in session.scalars(select(FundNav).where(
        FundNav.nav_date.in_(days), FundNav.symbol.in_({r.symbol for r in rows})))} if rows else {}
    counts = {"rows": len(rows), "added": 0, "corrected": 0}
    for r in rows:
        have = known.get((r.symbol, r.nav_date))
        if have is None:
            known[(r.symbol, r.nav_date)] = n = FundNav(symbol=r.symbol, nav_date=r.nav_date,
                                                        nav=r.nav, source=source[:80])
            session.add(n)
            counts["added"] += 1
        elif have.nav != r.nav:
            have.nav, have.source, have.loaded_at = r.nav, source[:80], utcnow()
            counts["corrected"] += 1
    session.flush()
    _value_at_nav(session, rows)
    return counts


def _value_at_nav(session: Session, rows: list[NavRow]) -> None:
    """A fund's NAV is its price of record: each NAV goes to the quote store as that day's close, so
    fund positions are valued at the latest NAV, with its date, like a stock at its last close
    (funds the instrument master does not list are left out)."""
    listed = instruments_by_symbol(session, {r.symbol for r in rows})
    bars = [{"symbol": r.symbol, "day": r.nav_date, "open": r.nav, "high": r.nav, "low": r.nav, "close": r.nav,
             "volume": 0, "amount": None} for r in rows if r.symbol in listed]
    if bars:
        load_daily_bars(session.connection(), bars)


def nav_of(session: Session, symbol: str, day: date) -> Decimal | None:
    return session.scalar(select(FundNav.nav).where(FundNav.symbol == symbol, FundNav.nav_date == day))


# --- confirmation -------------------------------------------------------------------------------

def due_nav_days(session: Session, today: date) -> list[date]:
    """NAV days of placed orders confirmable today (T+1 or later)."""
    return list(session.scalars(select(FundOrder.nav_day).where(
        FundOrder.state == "placed", FundOrder.nav_day < today).distinct().order_by(FundOrder.nav_day)))


def confirm_due(session: Session, today: date, *, now: datetime | None = None,
                limit: int | None = None) -> dict[str, int]:
    """Confirm placed orders whose NAV day is before ``today`` and whose NAV is loaded (at most
    ``limit``, oldest first); expire chat proposals nobody confirmed. Idempotent: a confirmed
    order is never touched again. ``waiting_nav`` counts the due orders still placed after it.
    An order that cannot be confirmed (its fee schedule gone, fewer units held than it redeems)
    fails alone (:func:`_fail`); the others are confirmed."""
    now = now or utcnow()
    counts = {"confirmed": 0, "failed": 0, "waiting_nav": 0, "expired": 0}
    for o in session.scalars(select(FundOrder).where(
            FundOrder.state == "proposed", FundOrder.placed_at <= now - PROPOSAL_TTL)).all():
        o.state = "expired"
        counts["expired"] += 1
    due = (select(FundOrder, FundNav.nav)
           .join(FundNav, and_(FundNav.symbol == FundOrder.symbol, FundNav.nav_date == FundOrder.nav_day))
           .where(FundOrder.state == "placed", FundOrder.nav_day < today)
           .order_by(FundOrder.nav_day, FundOrder.id).limit(limit).with_for_update(of=FundOrder))
    for o, nav in session.execute(due).all():
        try:
            with session.begin_nested():
                confirm_order(session, o, nav, now=now)
        except Exception as exc:  # one bad order must not hold up the day's other confirmations
            log.exception("fund order %s could not be confirmed", o.order_no)
            _fail(session, o, f"{type(exc).__name__}: {exc}", now=now)
            counts["failed"] += 1
            continue
        counts["confirmed"] += 1
    session.flush()
    counts["waiting_nav"] = waiting_orders(session, today)
    return counts


def confirm_in_batches(open_session: Callable[[], AbstractContextManager[Session]], today: date, *,
                       batch: int = 500) -> dict[str, int]:
    """:func:`confirm_due` in transactions of ``batch`` orders, so a day's thousands of orders do
    not hold the accounts and the ledger's head in one long transaction."""
    total = {"confirmed": 0, "failed": 0, "waiting_nav": 0, "expired": 0}
    while True:
        with open_session() as session:
            counts = confirm_due(session, today, limit=batch)
        for key in ("confirmed", "failed", "expired"):
            total[key] += counts[key]
        total["waiting_nav"] = counts["waiting_nav"]
        if counts["confirmed"] + counts["failed"] < batch:
            return total


def _fail(session: Session, o: FundOrder, error: str, *, now: datetime) -> None:
    """The order is refused at confirmation: a subscription's frozen cash is released, operations
    find it in the ledger (``brokercare ledger show --kind fund_order.failed``) with why."""
    o.state = "failed"
    if o.kind == "subscribe" and o.amount is not None:
        account = session.get(Account, o.account_id, with_for_update=True)
        account.frozen_cash -= o.amount
    ledger_append(session, "fund_order.failed", f"fund_order:{o.order_no}", {
        "customer_id": o.customer_id, "kind": o.kind, "symbol": o.symbol, "nav_day": o.nav_day.isoformat(),
        "error": error[:300], "at": now.isoformat()})
    session.flush()


def confirm_order(session: Session, o: FundOrder, nav: Decimal, *, now: datetime) -> None:
    if o.state != "placed":
        return
    account = session.get(Account, o.account_id, with_for_update=True)
    position = session.scalar(select(Position).where(
        Position.account_id == o.account_id, Position.symbol == o.symbol).with_for_update())
    if o.kind == "subscribe":
        position = _subscribed(session, o, account, position, nav)
        moved = -o.amount
    else:
        position = _redeemed(session, o, account, position, nav)
        moved = o.proceeds
    o.state, o.nav, o.confirmed_at = "confirmed", nav, now
    # a redemption's proceeds are in transit until its settlement day (fund_settlement.py)
    session.add(CashMovement(movement_no=o.order_no, account_id=o.account_id, kind=f"fund_{o.kind}",
                             amount=moved, status="done" if o.kind == "subscribe" else "pending",
                             occurred_at=now))
    session.flush()
    ledger_append(session, "fund_order.confirmed", f"fund_order:{o.order_no}", {
        "customer_id": o.customer_id, "kind": o.kind, "symbol": o.symbol,
        "nav_day": o.nav_day.isoformat(), "nav": str(nav), "units": str(o.units),
        "fee": str(o.fee), "cash": str(moved),
        "settle_day": o.settle_day.isoformat() if o.settle_day else None})
    if o.kind == "subscribe":  # the purchase funnel's last step: units confirmed
        publish_steps(session, o, ("accepted",), now)
    publish_after_commit(session, Event(POSITION_EVENT, {  # the live book and the profile follow
        "account_id": o.account_id, "symbol": o.symbol,
        "quantity": str(position.quantity if position is not None else 0),
        "cost_price": str(position.cost_price if position is not None else 0),
        "cash": str(account.cash_balance)}, customer_id=o.customer_id))


def _subscribed(session: Session, o: FundOrder, account: Account, position: Position | None,
                nav: Decimal) -> Position:
    schedule = _schedule(o)
    sub = subscribe(schedule, o.amount, nav)
    o.fee, o.units = sub.fee, sub.units
    account.cash_balance -= o.amount
    account.frozen_cash -= o.amount
    if position is None:
        position = Position(account_id=o.account_id, symbol=o.symbol, quantity=Decimal(0),
                            available_quantity=Decimal(0), cost_price=Decimal(0), opened_on=o.nav_day)
        session.add(position)
    held = position.quantity * position.cost_price
    position.quantity += sub.units
    position.available_quantity += sub.units
    position.cost_price = ((held + o.amount) / position.quantity).quantize(Decimal("0.0001"),
                                                                            ROUND_HALF_UP)
    session.add(FundLot(account_id=o.account_id, symbol=o.symbol, order_id=o.id,
                        start_day=o.nav_day, units=sub.units, remaining=sub.units))
    return position


def _redeemed(session: Session, o: FundOrder, account: Account, position: Position,
              nav: Decimal) -> Position | None:
    lots = session.scalars(select(FundLot).where(
        FundLot.account_id == o.account_id, FundLot.symbol == o.symbol, FundLot.remaining > 0)
        .order_by(FundLot.start_day, FundLot.id).with_for_update()).all()
    untracked = position.quantity - sum((lot.remaining for lot in lots), Decimal(0))
    result = redeem(_schedule(o), _holding(position, lots, untracked), o.units, nav, o.nav_day)
    _take_fifo(lots, o.units - max(min(untracked, o.units), Decimal(0)))
    o.fee, o.proceeds = result.fee, result.proceeds
    o.fee_detail = json.dumps([s.as_dict() for s in result.slices], ensure_ascii=False)
    if o.settle_day is None:  # placed before settlement days were recorded: the fund type's day now
        fund = instruments_by_symbol(session, [o.symbol]).get(o.symbol)
        o.settle_day = settle_day_for(o.symbol, fund.board if fund else None, o.nav_day)
    position.quantity -= o.units
    if position.quantity > 0:
        return position
    session.delete(position)
    return None


def _holding(position: Position, lots: list[FundLot], untracked: Decimal) -> list[Lot]:
    """The lots to redeem from. Units the position holds beyond its recorded lots (an imported
    holding) are older than any lot: held since the position opened, or unknown (longest tier)."""
    first = lots[0].start_day if lots else None
    since = position.opened_on if position.opened_on and (first is None or position.opened_on <= first) else None
    older = [Lot(since, untracked)] if untracked > 0 else []
    return older + [Lot(lot.start_day, lot.remaining) for lot in lots]


def _take_fifo(lots: list[FundLot], units: Decimal) -> None:
    for lot in lots:
        if units <= 0:
            return
        take = min(lot.remaining, units)
        lot.remaining -= take
        units -= take


def _schedule(o: FundOrder):
    return fee_rules().schedules[o.fee_schedule]


def waiting_orders(session: Session, before: date) -> int:
    """Placed orders whose NAV day is before ``before`` and still unconfirmed (a late NAV file)."""
    return session.scalar(select(func.count()).select_from(FundOrder).where(
        FundOrder.state == "placed", FundOrder.nav_day < before)) or 0
