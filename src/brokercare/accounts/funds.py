"""OTC fund orders (场外基金申购/赎回): placing, the 15:00 cut-off, cancelling, the chat proposal.

A subscription is by amount, a redemption by units. An order placed before 15:00 Beijing on a
trading day is priced at that day's NAV; at or after 15:00, or on a weekend or holiday, at the next
trading day's (:func:`nav_day_for`). Until that cut-off the customer may cancel. The amount (or the
units) is frozen from placing to outcome, so it cannot be spent twice; the fund company's NAV
confirms it on the next trading day (:mod:`brokercare.accounts.fund_confirmation`).

Suitability: this domain sits below ``advisory`` (which reads positions from here), so the caller
hands in the advisory domain's public service as a :class:`SuitabilityGate` (the views, the CLI and
the assistant pass ``brokercare.advisory.service``). A warned customer's order is placed only with
their explicit confirmation, which the gate records and ledgers; a refusal cannot be overridden.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.fund_fees import fee_rules, schedule_for, subscription_fee
from brokercare.accounts.fund_settlement import settle_day_for
from brokercare.accounts.models import Account, FundOrder, Position
from brokercare.accounts.schemas import FundOrderOut
from brokercare.core.after_commit import publish_after_commit
from brokercare.core.amounts import format_amount
from brokercare.core.bus import get_bus
from brokercare.core.calendar import SHANGHAI, is_trading_day, next_trading_day
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brokercare.core.journeys import journey_step
from brokercare.ledger.service import append as ledger_append
from brokercare.market.service import instruments_by_symbol

CUT_OFF = time(15, 0)
PROPOSAL_TTL = timedelta(minutes=10)
STATE_LABELS = {"proposed": "待您确认", "expired": "已过期", "placed": "已受理，待确认", "failed": "确认失败",
                "confirmed": "已确认", "cancelled": "已撤单"}
KIND_LABELS = {"subscribe": "申购", "redeem": "赎回"}
UNITS = Decimal("0.01")


class SuitabilityVerdict(Protocol):
    decision: str  # allow, warn_confirm, refuse
    message: str
    reason: str


class SuitabilityGate(Protocol):
    """What a fund order needs of the advisory domain (``brokercare.advisory.service``)."""

    def suitability_of(self, session: Session, customer_id: int, product_risk: str, *,
                       today: date | None = None) -> SuitabilityVerdict: ...

    def record_confirmation(self, session: Session, customer_id: int, product: str,
                            decision: Any, *, channel: str = "app") -> Any: ...


# --- the cut-off --------------------------------------------------------------------------------

def nav_day_for(moment: datetime) -> date:
    """The trading day whose NAV prices an order placed at ``moment``."""
    local = moment.astimezone(SHANGHAI)
    if is_trading_day(local.date()) and local.time() < CUT_OFF:
        return local.date()
    return next_trading_day(local.date())


def cut_off_of(nav_day: date) -> datetime:
    return datetime.combine(nav_day, CUT_OFF, SHANGHAI)


def _md(day: date) -> str:
    return f"{day.month} 月 {day.day} 日"


# --- checks -------------------------------------------------------------------------------------

def _decimal(value: Decimal | str | float, what: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f"{what}格式不正确，请输入数字") from None
    if not out.is_finite() or out <= 0:
        raise ValidationFailed(f"{what}必须大于 0")
    if out != out.quantize(UNITS):
        raise ValidationFailed(f"{what}最多保留两位小数")
    return out


def _amount(value: Decimal | str | float) -> Decimal:
    amount, rules = _decimal(value, "申购金额"), fee_rules()
    if amount < rules.min_subscription:
        raise ValidationFailed(f"申购金额不能低于 {format_amount(rules.min_subscription, yuan_digits=2)}")
    if amount > rules.max_subscription:
        raise ValidationFailed(f"单笔申购不能超过 {format_amount(rules.max_subscription)}，请分笔办理")
    return amount


def _fund(session: Session, symbol: str):
    code = (symbol or "").strip().upper()
    wanted = code if "." in code else f"{code}.OF"
    fund = instruments_by_symbol(session, [wanted]).get(wanted)
    if fund is None or fund.kind != "fund":
        raise NotFound(f"没有找到场外基金“{symbol}”，请核对 6 位基金代码")
    if not fund.risk_rating:
        raise ValidationFailed(f"{fund.name}暂无风险等级，暂不能办理申购")
    return fund


def _cash_account(session: Session, customer_id: int, *, lock: bool = False) -> Account:
    q = select(Account).where(Account.customer_id == customer_id, Account.kind == "cash")
    account = session.scalar((q.with_for_update() if lock else q).order_by(Account.id).limit(1))
    if account is None:
        raise NotFound("没有找到您的资金账户")
    if account.status != "active":
        raise ValidationFailed("您的资金账户当前不可用，无法办理基金交易，请联系客服")
    return account


def _check_cash(account: Account, amount: Decimal) -> None:
    free = account.cash_balance - account.frozen_cash
    if amount > free:
        raise ValidationFailed(f"可用资金为 {format_amount(max(free, Decimal(0)), yuan_digits=2)}，"
                               "不足以支付本次申购，请先转入资金")


def _position(session: Session, account: Account, symbol: str) -> Position | None:
    """The holding, locked: two redemptions at once cannot both take the same units."""
    return session.scalar(select(Position).where(Position.account_id == account.id,
                                                 Position.symbol == symbol).with_for_update())


def _check_units(position: Position | None, fund_name: str, units: Decimal) -> Position:
    rules = fee_rules()
    if position is None or position.available_quantity <= 0:
        raise ValidationFailed(f"您没有可赎回的{fund_name}份额")
    if units > position.available_quantity:
        raise ValidationFailed(f"可赎回份额为 {position.available_quantity:,.2f} 份，本次赎回份额超出")
    if units < rules.min_redemption_units and units != position.available_quantity:
        raise ValidationFailed(f"单笔赎回不能少于 {rules.min_redemption_units:,.2f} 份")
    return position


def _suitability(session: Session, gate: SuitabilityGate, customer_id: int, fund,
                 now: datetime, *, risk_confirmed: bool) -> SuitabilityVerdict:
    verdict = gate.suitability_of(session, customer_id, fund.risk_rating,
                                  today=now.astimezone(SHANGHAI).date())
    if verdict.decision == "refuse":
        raise PermissionDenied(verdict.message, extra={"suitability": verdict.reason})
    if verdict.decision == "warn_confirm" and not risk_confirmed:
        raise Conflict(verdict.message, extra={"suitability": "warn_confirm",
                                               "needs_confirmation": True})
    return verdict


# --- views --------------------------------------------------------------------------------------

def _state_label(o: FundOrder) -> str:
    """A redemption's proceeds are told apart: in transit with their day, then arrived."""
    if o.kind == "redeem" and o.settle_day is not None and o.state in ("placed", "confirmed"):
        if o.settled_at is not None:
            return "已确认，赎回款已到账"
        when = f"预计 {o.settle_day.month} 月 {o.settle_day.day} 日到账"
        return f"已确认，赎回款在途（{when}）" if o.state == "confirmed" else f"{STATE_LABELS['placed']}（赎回款{when}）"
    return STATE_LABELS[o.state]


def view(o: FundOrder, *, replayed: bool = False, warning: str | None = None) -> FundOrderOut:
    return FundOrderOut(
        order_no=o.order_no, kind=o.kind, kind_label=KIND_LABELS[o.kind], symbol=o.symbol,
        fund_name=o.fund_name, amount=o.amount, units=o.units, state=o.state,
        state_label=_state_label(o), nav_day=o.nav_day, confirm_day=next_trading_day(o.nav_day),
        settle_day=o.settle_day, settled_at=o.settled_at,
        cancellable_until=cut_off_of(o.nav_day) if o.state == "placed" else None, nav=o.nav,
        fee=o.fee, proceeds=o.proceeds, suitability=o.suitability, reason=o.reason,
        placed_at=o.placed_at, confirmed_at=o.confirmed_at, replayed=replayed, warning=warning)


def _replay(existing: FundOrder, kind: str, symbol: str, quantity: Decimal) -> FundOrderOut:
    asked = existing.amount if kind == "subscribe" else existing.units
    if existing.kind != kind or existing.symbol != symbol or asked != quantity:
        raise Conflict("这个请求编号已用于另一笔基金交易，请重新下单")
    return view(existing, replayed=True)


def _key(customer_id: int, idempotency_key: str) -> str:
    key = f"{customer_id}:{(idempotency_key or '').strip()}"
    if not (idempotency_key or "").strip() or len(key) > 160:
        raise ValidationFailed("请求编号不能为空，且不超过 120 个字符")
    return key


def _order_no(now: datetime) -> str:
    """Readable and unique across processes: the second, then 40 random bits (two of a hundred
    orders in the same second share a number with odds of about one in two hundred million)."""
    return f"FD{now.astimezone(SHANGHAI):%y%m%d%H%M%S}{secrets.token_hex(5).upper()}"


def _new(account: Account, fund, key: str, kind: str, now: datetime, channel: str, *,
         amount: Decimal | None = None, units: Decimal | None = None,
         state: str = "placed") -> FundOrder:
    schedule = schedule_for(fund.symbol, fund.board, fund.name)
    nav_day = nav_day_for(now)
    return FundOrder(
        order_no=_order_no(now), idempotency_key=key, customer_id=account.customer_id,
        account_id=account.id, symbol=fund.symbol, fund_name=fund.name, kind=kind, amount=amount,
        units=units, state=state, channel=channel, placed_at=now, nav_day=nav_day,
        settle_day=settle_day_for(fund.symbol, fund.board, nav_day) if kind == "redeem" else None,
        fee_schedule=schedule.name,
        fee=subscription_fee(schedule, amount)[0] if kind == "subscribe" else None)


def _ledger_placed(session: Session, o: FundOrder) -> None:
    ledger_append(session, "fund_order.placed", f"fund_order:{o.order_no}", {
        "customer_id": o.customer_id, "kind": o.kind, "symbol": o.symbol,
        "amount": str(o.amount) if o.amount is not None else None,
        "units": str(o.units) if o.units is not None else None, "nav_day": o.nav_day.isoformat(),
        "settle_day": o.settle_day.isoformat() if o.settle_day else None, "suitability": o.suitability, "suitability_confirmation_id": o.suitability_confirmation_id,
        "channel": o.channel})


# --- placing ------------------------------------------------------------------------------------

def place_subscription(session: Session, *, customer_id: int, symbol: str,
                       amount: Decimal | str | float, idempotency_key: str,
                       suitability: SuitabilityGate, risk_confirmed: bool = False,
                       channel: str = "app", now: datetime | None = None) -> FundOrderOut:
    """申购 by amount, in the caller's transaction. The same key again returns the first order;
    a warned customer must pass ``risk_confirmed`` (recorded and ledgered with the order)."""
    key, amount = _key(customer_id, idempotency_key), _amount(amount)
    fund = _fund(session, symbol)
    existing = session.scalar(select(FundOrder).where(FundOrder.idempotency_key == key))
    if existing is not None:
        return _replay(existing, "subscribe", fund.symbol, amount)
    now = now or utcnow()
    account = _cash_account(session, customer_id, lock=True)
    order = _new(account, fund, key, "subscribe", now, channel, amount=amount)
    _admit_subscription(session, order, account, fund, suitability, risk_confirmed, now)
    return view(order)


def journey_ref(o: FundOrder) -> str:
    """One purchase's name in the funnel: from its request key, so a warned attempt and the
    confirmed retry under the same key are one instance (a chat proposal keeps its own key)."""
    return "fund_order:" + hashlib.sha256(o.idempotency_key.encode()).hexdigest()[:24]


def publish_steps(session: Session | None, o: FundOrder, steps: tuple[str, ...], at: datetime) -> None:
    """The subscription's ``journey.step`` events for quality's funnel: after the caller commits,
    or at once (``session`` None) for a step reached by an attempt that is refused and rolled back."""
    for step in steps:
        event = journey_step("fund_order", step, ref=journey_ref(o), at=at, customer_id=o.customer_id,
                             channel=o.channel)
        if session is None:
            get_bus().publish(event)
        else:
            publish_after_commit(session, event)


def _admit_subscription(session: Session, order: FundOrder, account: Account, fund,
                        gate: SuitabilityGate, risk_confirmed: bool, now: datetime) -> None:
    """Cash, then suitability (recording a warned customer's confirmation), then freeze and ledger.
    The funnel's steps: started and suitability checked (also when the customer is warned or
    refused and the order is not placed), confirmed and paid (the amount frozen) once placed."""
    _check_cash(account, order.amount)
    try:
        verdict = _suitability(session, gate, order.customer_id, fund, now, risk_confirmed=risk_confirmed)
    except (Conflict, PermissionDenied):
        publish_steps(None, order, ("started", "suitability_checked"), now)
        raise
    order.state, order.placed_at, order.nav_day = "placed", now, nav_day_for(now)
    order.suitability = verdict.decision
    if verdict.decision == "warn_confirm":
        confirmation = gate.record_confirmation(session, order.customer_id, fund.symbol, verdict,
                                                channel=order.channel)
        order.suitability_confirmation_id = confirmation.id
    account.frozen_cash += order.amount
    session.add(order)
    session.flush()
    _ledger_placed(session, order)
    publish_steps(session, order, ("started", "suitability_checked", "confirmed", "paid"), now)


def place_redemption(session: Session, *, customer_id: int, symbol: str,
                     units: Decimal | str | float, idempotency_key: str, channel: str = "app",
                     now: datetime | None = None) -> FundOrderOut:
    """赎回 by units, in the caller's transaction; the units are frozen on the position."""
    key, units = _key(customer_id, idempotency_key), _decimal(units, "赎回份额")
    fund = _fund(session, symbol)
    existing = session.scalar(select(FundOrder).where(FundOrder.idempotency_key == key))
    if existing is not None:
        return _replay(existing, "redeem", fund.symbol, units)
    now = now or utcnow()
    account = _cash_account(session, customer_id)
    position = _check_units(_position(session, account, fund.symbol), fund.name, units)
    order = _new(account, fund, key, "redeem", now, channel, units=units)
    position.available_quantity -= units
    session.add(order)
    session.flush()
    _ledger_placed(session, order)
    return view(order)


# --- cancelling and reading ---------------------------------------------------------------------

def _get(session: Session, customer_id: int, order_no: str, *, lock: bool = False) -> FundOrder:
    q = select(FundOrder).where(FundOrder.order_no == order_no)
    o = session.scalar(q.with_for_update() if lock else q)
    if o is None or o.customer_id != customer_id:
        raise NotFound("没有找到这笔基金订单")
    return o


def release(session: Session, o: FundOrder) -> None:
    """Give back what the order froze: the cash of a subscription, the units of a redemption."""
    if o.kind == "subscribe":
        session.get(Account, o.account_id, with_for_update=True).frozen_cash -= o.amount
        return
    position = session.scalar(select(Position).where(Position.account_id == o.account_id,
                                                     Position.symbol == o.symbol))
    if position is not None:
        position.available_quantity += o.units


def cancel_order(session: Session, *, customer_id: int, order_no: str,
                 now: datetime | None = None) -> FundOrderOut:
    """撤单 before the NAV day's 15:00; after it the order is with the fund company."""
    now = now or utcnow()
    o = _get(session, customer_id, order_no, lock=True)
    if o.state == "cancelled":
        return view(o, replayed=True)
    if o.state != "placed":
        raise Conflict(f"这笔订单{STATE_LABELS[o.state]}，不能撤单")
    if now >= cut_off_of(o.nav_day):
        raise Conflict(f"已过 {_md(o.nav_day)} 15:00 的撤单截止时间，订单已提交基金公司，不能撤单；"
                       f"预计 {_md(next_trading_day(o.nav_day))} 确认")
    release(session, o)
    o.state, o.cancelled_at = "cancelled", now
    session.flush()
    ledger_append(session, "fund_order.cancelled", f"fund_order:{o.order_no}", {
        "customer_id": o.customer_id, "kind": o.kind, "symbol": o.symbol})
    return view(o)


def order_of(session: Session, *, customer_id: int, order_no: str) -> FundOrderOut:
    return view(_get(session, customer_id, order_no))


def fund_orders_of(session: Session, customer_id: int, *, limit: int = 20) -> list[FundOrderOut]:
    rows = session.scalars(select(FundOrder).where(
        FundOrder.customer_id == customer_id, FundOrder.state.not_in(("proposed", "expired")))
        .order_by(FundOrder.id.desc()).limit(max(1, min(limit, 200))))
    return [view(o) for o in rows]


# --- proposed in a chat, placed on the customer's explicit confirmation -------------------------

def propose_subscription(session: Session, *, customer_id: int, symbol: str,
                         amount: Decimal | str | float, suitability: SuitabilityGate,
                         now: datetime | None = None) -> FundOrderOut:
    """What the assistant offers to buy: checked as far as it can be without the customer's word
    (amount, fund, cash; a refusal ends it), recorded as ``proposed``; nothing is frozen. When the
    customer is warned, ``warning`` carries the text they must read before confirming."""
    now = now or utcnow()
    amount, fund = _amount(amount), _fund(session, symbol)
    account = _cash_account(session, customer_id)
    _check_cash(account, amount)
    verdict = _suitability(session, suitability, customer_id, fund, now, risk_confirmed=True)
    key = _key(customer_id, f"chat-proposal:{now.timestamp():.6f}")
    order = _new(account, fund, key, "subscribe", now, "chat", amount=amount, state="proposed")
    order.suitability = verdict.decision
    session.add(order)
    session.flush()
    publish_steps(session, order, ("started", "suitability_checked"), now)
    return view(order, warning=verdict.message if verdict.decision == "warn_confirm" else None)


def confirm_subscription_proposal(session: Session, *, customer_id: int,
                                  suitability: SuitabilityGate,
                                  now: datetime | None = None) -> FundOrderOut | None:
    """The customer said yes (after reading any warning): the latest proposal of the last ten
    minutes is placed, every check run again. None when there is none; twice is one order."""
    now = now or utcnow()
    o = session.scalar(select(FundOrder).where(
        FundOrder.customer_id == customer_id, FundOrder.channel == "chat",
        FundOrder.placed_at >= now - PROPOSAL_TTL).order_by(FundOrder.id.desc()).limit(1))
    if o is None:
        return None
    if o.state != "proposed":
        return view(o, replayed=True) if o.placed_at >= now - timedelta(minutes=1) else None
    account = _cash_account(session, customer_id, lock=True)
    _admit_subscription(session, o, account, _fund(session, o.symbol), suitability, True, now)
    return view(o)
