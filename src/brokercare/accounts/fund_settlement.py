"""Redemption proceeds in transit (赎回在途资金) and their arrival on the fund type's day.

A confirmed redemption's proceeds do not reach the capital account on the confirmation day: the
fund company pays them some trading days after the NAV day, by fund type (money-market T+1, bond
T+3, equity, index and hybrid T+4, QDII T+8: ``data/fund_settlement.yaml`` with its sources). The
expected day is fixed when the redemption is placed, from the NAV day the 15:00 cut-off decides,
and the customer is told it. From confirmation to that day the proceeds are a pending
``fund_redeem`` cash movement: counted in the customer's assets, shown as 在途资金 with the day
they arrive, but not in the cash balance, so they can neither buy nor leave for the bank.

The scheduled job ``accounts.settle_fund_redemptions`` credits what is due. A movement flips from
``pending`` to ``done`` in one conditional UPDATE, which is the guard: two runs, or two schedulers
at once, credit each redemption once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from brokercare.accounts.models import Account, CashMovement, FundOrder, Position
from brokercare.core.after_commit import publish_after_commit
from brokercare.core.bus import Event
from brokercare.core.calendar import add_trading_days
from brokercare.core.database import utcnow
from brokercare.ledger.service import append as ledger_append
from brokercare.market.events import POSITION_EVENT

IN_TRANSIT_LABEL = "在途资金"


@dataclass(frozen=True)
class SettlementRules:
    effective_from: date
    days: dict[str, int]
    default: int
    overrides: dict[str, int]


@lru_cache
def settlement_rules() -> SettlementRules:
    raw = yaml.safe_load(resources.files("brokercare.accounts").joinpath(
        "data/fund_settlement.yaml").read_text("utf-8"))
    days = {str(k): int(v) for k, v in raw["days_after_nav_day"].items()}
    if any(n < 1 for n in days.values()) or int(raw["default"]) < 1:
        raise ValueError("fund_settlement.yaml: proceeds arrive at least one trading day after the NAV day")
    return SettlementRules(raw["effective_from"], days, int(raw["default"]),
                           {str(k): int(v) for k, v in (raw.get("overrides") or {}).items()})


def settle_days(symbol: str, fund_type: str | None) -> int:
    """Trading days from the NAV day to the proceeds' arrival: the fund's own term, else its type's."""
    rules = settlement_rules()
    return rules.overrides.get(symbol, rules.days.get(fund_type or "", rules.default))


def settle_day_for(symbol: str, fund_type: str | None, nav_day: date) -> date:
    return add_trading_days(nav_day, settle_days(symbol, fund_type))


# --- what is in transit -------------------------------------------------------------------------

@dataclass(frozen=True)
class InTransit:
    """One redemption's proceeds on their way to the account, as the customer reads them."""

    order_no: str
    account_id: int
    symbol: str
    fund_name: str
    amount: Decimal
    expected_on: date

    @property
    def label(self) -> str:
        return (f"{IN_TRANSIT_LABEL}：赎回{self.fund_name} {self.amount:,.2f} 元，"
                f"预计 {self.expected_on.month} 月 {self.expected_on.day} 日到账")


def unsettled():
    """Confirmed redemptions not credited yet (those confirmed before settlement days existed were
    credited at confirmation: they have no ``settle_day``)."""
    return (FundOrder.kind == "redeem", FundOrder.state == "confirmed", FundOrder.settled_at.is_(None),
            FundOrder.settle_day.is_not(None), FundOrder.proceeds.is_not(None))


def in_transit(session: Session, account_ids: Iterable[int]) -> list[InTransit]:
    """Confirmed redemptions whose proceeds have not arrived, soonest first."""
    ids = list(account_ids)
    if not ids:
        return []
    rows = session.scalars(select(FundOrder).where(FundOrder.account_id.in_(ids), *unsettled())
                           .order_by(FundOrder.settle_day, FundOrder.id))
    return [InTransit(o.order_no, o.account_id, o.symbol, o.fund_name, o.proceeds, o.settle_day) for o in rows]


def in_transit_by_customer(session: Session, customer_ids: Iterable[int] | None = None) -> dict[int, Decimal]:
    """Each customer's total in transit (every customer with some when ``customer_ids`` is None)."""
    q = select(FundOrder.customer_id, func.sum(FundOrder.proceeds)).where(*unsettled())
    if customer_ids is not None:
        q = q.where(FundOrder.customer_id.in_(list(customer_ids)))
    return {cid: Decimal(total) for cid, total in session.execute(q.group_by(FundOrder.customer_id))}


# --- arrival ------------------------------------------------------------------------------------

def settle_due(session: Session, today: date, *, now: datetime | None = None,
               limit: int | None = None) -> dict[str, int]:
    """Credit every redemption whose settlement day is ``today`` or earlier (a day the job did not
    run is caught up); at most ``limit``, the oldest first. Idempotent (see :func:`settle`)."""
    now = now or utcnow()
    due = session.scalars(select(FundOrder).where(*unsettled(), FundOrder.settle_day <= today)
                          .order_by(FundOrder.settle_day, FundOrder.id).limit(limit)).all()
    counts = {"settled": 0, "already_settled": 0, "amount_fen": 0}
    for o in due:
        if settle(session, o, now=now):
            counts["settled"] += 1
            counts["amount_fen"] += int(o.proceeds * 100)
        else:
            counts["already_settled"] += 1
    counts["still_in_transit"] = session.scalar(
        select(func.count()).select_from(FundOrder).where(*unsettled())) or 0
    return counts


def settle(session: Session, o: FundOrder, *, now: datetime) -> bool:
    """Credit one redemption's proceeds; False when another run already did. The pending movement
    turning ``done`` is the one guard, so the balance moves only with it."""
    flipped = session.execute(update(CashMovement).where(
        CashMovement.movement_no == o.order_no, CashMovement.kind == "fund_redeem",
        CashMovement.status == "pending").values(status="done", occurred_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if flipped != 1:
        session.refresh(o)
        return False
    account = session.get(Account, o.account_id, with_for_update=True)
    account.cash_balance += o.proceeds
    o.settled_at = now
    session.flush()
    ledger_append(session, "fund_order.settled", f"fund_order:{o.order_no}", {
        "customer_id": o.customer_id, "symbol": o.symbol, "nav_day": o.nav_day.isoformat(),
        "settle_day": o.settle_day.isoformat(), "proceeds": str(o.proceeds),
        "cash_after": str(account.cash_balance), "at": now.isoformat()})
    position = session.scalar(select(Position).where(Position.account_id == o.account_id,
                                                     Position.symbol == o.symbol))
    publish_after_commit(session, Event(POSITION_EVENT, {  # the live book sees the cash arrive
        "account_id": o.account_id, "symbol": o.symbol,
        "quantity": str(position.quantity if position is not None else 0),
        "cost_price": str(position.cost_price if position is not None else 0),
        "cash": str(account.cash_balance)}, customer_id=o.customer_id))
    return True
