"""Bank–securities transfers (银证转账): request, the bank's answer, the risk desk's holds.

A request is checked and written first (idempotent by the caller's key; an outgoing amount frozen
on the account), committed, and only then sent to the bank, so a crash between the two leaves a
``requested`` transfer the follow-up job sends, never a transfer the bank has and we do not. An
answer that never came (timeout) leaves it ``sent``: the job asks the bank, and the day's statement
settles what the bank did (:mod:`brokercare.accounts.reconciliation`); a transfer is never sent
twice under two numbers, and the bank de-duplicates by its number.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.accounts import fund_settlement
from brokercare.accounts.banks import BankAnswer, BankGateway, BankRequest, bank_gateway
from brokercare.accounts.models import Account, BankTransfer, CashMovement, Trade
from brokercare.accounts.schemas import TransferOut
from brokercare.core.after_commit import publish_after_commit
from brokercare.core.amounts import format_amount
from brokercare.core.bus import Event
from brokercare.core.calendar import SHANGHAI, is_trading_day, next_trading_day
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.core.journeys import journey_step
from brokercare.ledger.service import append as ledger_append
from brokercare.risk import service as risk
from brokercare.security.service import get_cipher

TRANSFER_COMPLETED = "transfer.completed"
STATE_LABELS = {
    "proposed": "待您确认", "expired": "已过期", "requested": "已受理", "held": "风控复核中", "sent": "银行处理中", "confirmed": "已到账",
    "failed": "未成功", "rejected": "未受理", "reversed": "已冲正",
}
OPEN_STATES = ("requested", "held", "sent")


@dataclass(frozen=True)
class Hours:
    start: time
    end: time


@dataclass(frozen=True)
class TransferRules:
    min_amount: Decimal
    per_transfer: dict[str, Decimal]
    daily_out: Decimal
    default_hours: Hours
    bank_hours: dict[str, Hours]

    def hours(self, bank: str | None) -> Hours:
        return self.bank_hours.get(bank or "", self.default_hours)


def _hours(raw: dict) -> Hours:
    return Hours(time.fromisoformat(raw["from"]), time.fromisoformat(raw["until"]))


@lru_cache
def rules() -> TransferRules:
    raw = yaml.safe_load(resources.files("brokercare.accounts").joinpath(
        "data/transfer_rules.yaml").read_text("utf-8"))
    limits = raw["limits"]
    return TransferRules(
        min_amount=Decimal(str(limits["min_amount"])),
        per_transfer={"in": Decimal(str(limits["per_transfer_in"])),
                      "out": Decimal(str(limits["per_transfer_out"]))},
        daily_out=Decimal(str(limits["daily_out"])),
        default_hours=_hours(raw["hours"]["default"]),
        bank_hours={bank: _hours(h) for bank, h in (raw["hours"].get("banks") or {}).items()})


# --- checks -------------------------------------------------------------------------------------

def _amount(value: Decimal | str | float, direction: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed("转账金额格式不正确，请输入数字，例如 50000") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed("转账金额最多保留两位小数")
    limit = rules().per_transfer[direction]
    if amount < rules().min_amount:
        raise ValidationFailed("转账金额必须大于 0")
    if amount > limit:
        raise ValidationFailed(f"单笔{'转入' if direction == 'in' else '转出'}不能超过 {format_amount(limit)}，"
                               "请分笔办理")
    return amount


def _in_service_hours(bank: str | None, now: datetime) -> None:
    local = now.astimezone(SHANGHAI)
    hours = rules().hours(bank)
    if is_trading_day(local.date()) and hours.start <= local.time() < hours.end:
        return
    day = local.date()
    if not is_trading_day(day) or local.time() >= hours.end:
        day = next_trading_day(day)
    raise ValidationFailed(
        f"{bank or '您的存管银行'}银证转账的服务时间为交易日 {hours.start:%H:%M}–{hours.end:%H:%M}，"
        f"现在不能办理，请于 {day.month} 月 {day.day} 日 {hours.start:%H:%M} 后再试。")


def _linked_account(session: Session, customer_id: int) -> Account:
    account = session.scalar(select(Account).where(
        Account.customer_id == customer_id, Account.kind == "cash").order_by(Account.id).limit(1))
    if account is None:
        raise NotFound("没有找到您的资金账户")
    if account.status != "active":
        raise ValidationFailed("您的资金账户当前不可用，无法办理银证转账，请联系客服")
    if not account.bank_card_enc:
        raise ValidationFailed("您的资金账户尚未绑定存管银行卡，无法办理银证转账")
    return account


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), SHANGHAI)
    return start, start + timedelta(days=1)


def withdrawable(session: Session, account: Account, day: date) -> tuple[Decimal, Decimal]:
    """Cash that may leave today, and today's sale proceeds (usable for buying, out only from T+1)."""
    start, end = _day_bounds(day)
    proceeds = session.scalar(select(func.coalesce(func.sum(Trade.amount), 0)).where(
        Trade.account_id == account.id, Trade.side == "sell", Trade.traded_at >= start,
        Trade.traded_at < end)) or Decimal(0)
    free = account.cash_balance - account.frozen_cash - Decimal(proceeds)
    return max(free, Decimal(0)), Decimal(proceeds)


def _check_out(session: Session, account: Account, amount: Decimal, day: date) -> None:
    """Only cash that has arrived may leave: today's sale proceeds wait for T+1, and a fund
    redemption's proceeds in transit (not in the balance until their day) are named with it."""
    free, proceeds = withdrawable(session, account, day)
    if amount > free:
        note = f"（今日卖出所得 {format_amount(proceeds)} 需下一交易日才能转出）" if proceeds else ""
        transit = fund_settlement.in_transit(session, [account.id])
        if transit:
            note += "（" + "；".join(f"赎回{t.fund_name}的 {t.amount:,.2f} 元为在途资金，预计 "
                                    f"{t.expected_on.month} 月 {t.expected_on.day} 日到账后才能转出"
                                    for t in transit[:3]) + "）"
        raise ValidationFailed(f"可转出资金为 {format_amount(free)}{note}，本次转出金额超出可转出资金")
    taken = session.scalar(select(func.coalesce(func.sum(BankTransfer.amount), 0)).where(
        BankTransfer.customer_id == account.customer_id, BankTransfer.direction == "out",
        BankTransfer.business_day == day,
        BankTransfer.state.in_(("requested", "held", "sent", "confirmed")))) or Decimal(0)
    if Decimal(taken) + amount > rules().daily_out:
        raise ValidationFailed(f"每日转出合计不能超过 {format_amount(rules().daily_out)}，今日已转出 "
                               f"{format_amount(Decimal(taken))}")


# --- request ------------------------------------------------------------------------------------

def view(t: BankTransfer, *, replayed: bool = False) -> TransferOut:
    return TransferOut(transfer_no=t.transfer_no, direction=t.direction, amount=t.amount,
                       state=t.state, state_label=STATE_LABELS[t.state], bank_name=t.bank_name,
                       card_tail=t.card_tail, business_day=t.business_day, reason=t.reason,
                       requested_at=t.requested_at, settled_at=t.settled_at, replayed=replayed)


def _replay(existing: BankTransfer, direction: str, amount: Decimal) -> TransferOut:
    if existing.direction != direction or existing.amount != amount:
        raise Conflict("这个请求编号已用于另一笔转账，请重新发起")
    return view(existing, replayed=True)


def request_transfer(session: Session, *, customer_id: int, direction: str,
                     amount: Decimal | str | float, idempotency_key: str, channel: str = "app",
                     ip: str | None = None, device_id: str | None = None,
                     now: datetime | None = None) -> TransferOut:
    """Check and record a transfer in the caller's transaction (it is sent after the commit: see
    :func:`send_transfer`). The same key again returns the first transfer, whatever its state."""
    key, amount = _key_and_amount(customer_id, idempotency_key, direction, amount)
    existing = session.scalar(select(BankTransfer).where(BankTransfer.idempotency_key == key))
    if existing is not None:
        return _replay(existing, direction, amount)
    now = now or utcnow()
    account = _linked_account(session, customer_id)
    t = _new(session, account, key, direction, amount, channel, now)
    _admit(session, t, account, ip=ip, device_id=device_id, now=now)
    return view(t)


def _key_and_amount(customer_id: int, idempotency_key: str, direction: str,
                    amount: Decimal | str | float) -> tuple[str, Decimal]:
    if direction not in ("in", "out"):
        raise ValidationFailed("转账方向只能是转入（银行→证券）或转出（证券→银行）")
    key = f"{customer_id}:{idempotency_key.strip()}"
    if not idempotency_key.strip() or len(key) > 160:
        raise ValidationFailed("请求编号不能为空，且不超过 120 个字符")
    return key, _amount(amount, direction)


def _new(session: Session, account: Account, key: str, direction: str, amount: Decimal,
         channel: str, now: datetime, state: str = "requested") -> BankTransfer:
    card = get_cipher(session).decrypt(account.bank_card_enc)
    t = BankTransfer(transfer_no=_transfer_no(now), idempotency_key=key,
                     customer_id=account.customer_id, account_id=account.id, direction=direction,
                     amount=amount, bank_name=account.bank_name, card_tail=card[-4:], state=state,
                     business_day=now.astimezone(SHANGHAI).date(), channel=channel,
                     requested_at=now)
    _journey(session, t, "started", now)
    return t


def _journey(session: Session, t: BankTransfer, step: str, at: datetime) -> None:
    """The customer's bank-transfer journey reached ``step`` (the funnels, docs/quality.md); its
    ``confirmed`` step is the ``transfer.completed`` event."""
    publish_after_commit(session, journey_step("bank_transfer", step, ref=f"transfer:{t.transfer_no}",
                                               customer_id=t.customer_id, channel=t.channel, at=at))


def _admit(session: Session, t: BankTransfer, account: Account, *, ip: str | None,
           device_id: str | None, now: datetime) -> None:
    """The checks every transfer passes before the bank hears of it; an outgoing amount that
    passes is frozen. Records the transfer (``requested``, ``held`` or ``rejected``) and ledgers it."""
    _in_service_hours(account.bank_name, now)
    t.state, t.requested_at = "requested", now
    t.business_day = now.astimezone(SHANGHAI).date()
    if t.direction == "out":
        risk.ensure_may_transfer_out(session, t.customer_id)
        _check_out(session, account, t.amount, t.business_day)
        _decide_risk(session, t, account, ip=ip, device_id=device_id, now=now)
        if t.state in ("requested", "held"):
            account.frozen_cash += t.amount
    if t.state in ("requested", "held"):
        _journey(session, t, "requested", now)
    session.add(t)
    session.flush()
    ledger_append(session, "transfer.requested", f"transfer:{t.transfer_no}", {
        "customer_id": t.customer_id, "direction": t.direction, "amount": str(t.amount),
        "state": t.state, "channel": t.channel})


# --- proposed in a chat, done on the customer's explicit confirmation ----------------------------

PROPOSAL_TTL = timedelta(minutes=10)


def propose_transfer(session: Session, *, customer_id: int, direction: str,
                     amount: Decimal | str | float, now: datetime | None = None) -> TransferOut:
    """What the assistant offers to do: checked as far as it can be without the customer's word
    (amount, card, the bank's hours, the cash that may leave), recorded as ``proposed``; nothing
    is frozen and nothing is sent until :func:`confirm_transfer_proposal`. Expires after ten minutes."""
    now = now or utcnow()
    key, amount = _key_and_amount(customer_id, f"chat-proposal:{now.timestamp():.6f}", direction,
                                  amount)
    account = _linked_account(session, customer_id)
    _in_service_hours(account.bank_name, now)
    if direction == "out":
        risk.ensure_may_transfer_out(session, customer_id)
        _check_out(session, account, amount, now.astimezone(SHANGHAI).date())
    t = _new(session, account, key, direction, amount, "chat", now, state="proposed")
    session.add(t)
    session.flush()
    return view(t)


def confirm_transfer_proposal(session: Session, *, customer_id: int, ip: str | None = None,
                     device_id: str | None = None, now: datetime | None = None) -> TransferOut | None:
    """The customer said yes: the latest proposal of the last ten minutes becomes a transfer
    (after every check a request passes). None when there is none to confirm. Confirming twice
    (a message processed again) returns the same transfer."""
    now = now or utcnow()
    t = session.scalar(select(BankTransfer).where(
        BankTransfer.customer_id == customer_id, BankTransfer.channel == "chat",
        BankTransfer.requested_at >= now - PROPOSAL_TTL).order_by(BankTransfer.id.desc()).limit(1))
    if t is None:
        return None
    if t.state != "proposed":
        return view(t, replayed=True) if t.requested_at >= now - timedelta(minutes=1) else None
    _admit(session, t, _linked_account(session, customer_id), ip=ip, device_id=device_id, now=now)
    return view(t)


def _transfer_no(now: datetime) -> str:
    """Readable and unique across processes: the second, then 40 random bits (24 bits let two of a
    few thousand numbers of one second collide, as the fund-order benchmark found)."""
    return f"TR{now.astimezone(SHANGHAI):%y%m%d%H%M%S}{secrets.token_hex(5).upper()}"


def _decide_risk(session: Session, t: BankTransfer, account: Account, *, ip: str | None,
                 device_id: str | None, now: datetime) -> None:
    """The account-risk decision on money leaving: a hold waits for the risk desk; a freeze or a
    second factor not given refuses it (recorded, with the reason the customer reads)."""
    decision = risk.assess_transfer_out(session, customer_id=t.customer_id, amount=t.amount,
                                        card_token=account.bank_card_hash, ip=ip,
                                        device_id=device_id, at=now,
                                        event_id=f"transfer:{t.idempotency_key}")
    if decision.action == "hold":
        t.state, t.risk_measure_id, t.reason = "held", decision.measure_id, decision.message
    elif decision.action in ("freeze", "step_up"):
        t.state, t.risk_measure_id, t.reason = "rejected", decision.measure_id, decision.message


# --- the bank -----------------------------------------------------------------------------------

def _bank_request(session: Session, t: BankTransfer) -> BankRequest:
    account = session.get(Account, t.account_id)
    card = get_cipher(session).decrypt(account.bank_card_enc) if account.bank_card_enc else None
    return BankRequest(t.transfer_no, t.direction, t.amount, account.account_no, t.bank_name, card)


def send_transfer(session: Session, transfer_no: str, *, bank: BankGateway | None = None) -> TransferOut:
    """Hand a ``requested`` transfer to the bank and record its answer (caller commits)."""
    t = _get(session, transfer_no)
    if t.state != "requested":
        return view(t)
    t.attempts += 1
    t.sent_at = utcnow()
    answer = (bank or bank_gateway()).submit(_bank_request(session, t))
    apply_answer(session, t, answer)
    return view(t)


def apply_answer(session: Session, t: BankTransfer, answer: BankAnswer) -> None:
    if answer.status == "confirmed":
        confirm(session, t, bank_ref=answer.bank_ref)
    elif answer.status == "rejected":
        fail(session, t, answer.message or "银行未受理这笔转账")
    else:
        t.state = "sent"
        t.reason = None if answer.status == "processing" else answer.message
        _journey(session, t, "sent", t.sent_at or utcnow())
    session.flush()


def confirm(session: Session, t: BankTransfer, *, bank_ref: str | None, at: datetime | None = None) -> None:
    """The bank did it: the balance moves, once (a confirmed transfer is never confirmed again)."""
    if t.state == "confirmed":
        return
    account = session.get(Account, t.account_id, with_for_update=True)
    sign = 1 if t.direction == "in" else -1
    account.cash_balance += sign * t.amount
    if t.direction == "out":
        account.frozen_cash -= t.amount
    t.state, t.bank_ref, t.reason = "confirmed", bank_ref or t.bank_ref, None
    t.settled_at = at or utcnow()
    session.add(CashMovement(movement_no=t.transfer_no, account_id=t.account_id,
                             kind=f"bank_{t.direction}", amount=sign * t.amount, status="done",
                             bank_name=t.bank_name, occurred_at=t.settled_at))
    ledger_append(session, "transfer.confirmed", f"transfer:{t.transfer_no}", {
        "customer_id": t.customer_id, "direction": t.direction, "amount": str(t.amount),
        "bank_ref": t.bank_ref})
    publish_after_commit(session, Event(TRANSFER_COMPLETED, {
        "transfer_no": t.transfer_no, "account_id": t.account_id, "direction": t.direction,
        "amount": str(t.amount)}, customer_id=t.customer_id))


def fail(session: Session, t: BankTransfer, reason: str, *, state: str = "failed") -> None:
    if t.state not in OPEN_STATES:
        return
    if t.direction == "out":
        session.get(Account, t.account_id, with_for_update=True).frozen_cash -= t.amount
    t.state, t.reason, t.settled_at = state, reason, utcnow()
    ledger_append(session, f"transfer.{state}", f"transfer:{t.transfer_no}", {
        "customer_id": t.customer_id, "amount": str(t.amount), "reason": reason})


def _get(session: Session, transfer_no: str) -> BankTransfer:
    t = session.scalar(select(BankTransfer).where(BankTransfer.transfer_no == transfer_no))
    if t is None:
        raise NotFound("没有找到这笔转账")
    return t


def transfer_of(session: Session, *, customer_id: int, transfer_no: str) -> TransferOut:
    t = _get(session, transfer_no)
    if t.customer_id != customer_id:
        raise NotFound("没有找到这笔转账")
    return view(t)


def transfers_of(session: Session, customer_id: int, *, limit: int = 20) -> list[TransferOut]:
    rows = session.scalars(select(BankTransfer).where(BankTransfer.customer_id == customer_id)
                           .order_by(BankTransfer.id.desc()).limit(max(1, min(limit, 200))))
    return [view(t) for t in rows]


# --- the risk desk and the follow-up job --------------------------------------------------------

def on_risk_decision(session: Session, *, measure_id: int, released: bool) -> TransferOut | None:
    """The risk desk released or rejected a held transfer (``risk.hold_released|rejected``)."""
    t = session.scalar(select(BankTransfer).where(BankTransfer.risk_measure_id == measure_id,
                                                  BankTransfer.state == "held"))
    if t is None:
        return None
    if released:
        t.state, t.reason = "requested", None
    else:
        fail(session, t, "风控复核未通过，本次转出已取消，冻结的资金已解冻", state="rejected")
    session.flush()
    return view(t)


def follow_up(session: Session, *, bank: BankGateway | None = None, now: datetime | None = None,
              after_s: float = 60.0) -> dict[str, int]:
    """Send what was recorded but not sent (a crash, a released hold) and ask the bank about
    transfers whose answer never came. Runs every minute (schedule.yaml)."""
    bank = bank or bank_gateway()
    before = (now or utcnow()) - timedelta(seconds=after_s)
    counts = {"sent": 0, "asked": 0, "settled": 0, "expired": 0}
    for t in session.scalars(select(BankTransfer).where(
            BankTransfer.state == "proposed",
            BankTransfer.requested_at <= (now or utcnow()) - PROPOSAL_TTL)).all():
        t.state = "expired"
        counts["expired"] += 1
    for t in session.scalars(select(BankTransfer).where(
            BankTransfer.state == "requested", BankTransfer.requested_at <= before)).all():
        send_transfer(session, t.transfer_no, bank=bank)
        counts["sent"] += 1
    for t in session.scalars(select(BankTransfer).where(
            BankTransfer.state == "sent", BankTransfer.sent_at <= before)).all():
        counts["asked"] += 1
        answer = bank.query(t.transfer_no)
        if answer.status in ("confirmed", "rejected"):
            apply_answer(session, t, answer)
            counts["settled"] += 1
    return counts
