"""Welcome on account opening (``data/welcome.yaml``): when ``account.opened`` arrives, the
customer's welcome benefits go into the benefit ledger and the beginner's guide to a first trade
leaves through the outbox at once (due within the hour), under the frequency cap every proactive
contact shares (:mod:`engagement.contact`). A trade (``trade.executed``) then spends one
commission waiver, recorded with the commission it waived.

Every write is idempotent: the benefits by (customer, code), the guide by its outbox key, a use
by (benefit, trade event id), so a redelivered event changes nothing.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound
from brokercare.engagement import contact
from brokercare.engagement.models import Benefit, BenefitUse
from brokercare.outbox.service import enqueue


class Guide(BaseModel):
    channel: str
    within_minutes: int = Field(ge=1)
    subject: str
    body: str


class Grant(BaseModel):
    code: str
    kind: str
    title: str
    quantity: int = Field(ge=1)
    valid_days: int = Field(ge=1)


class FirstTrade(BaseModel):
    channel: str
    within_days: int = Field(ge=1)
    subject: str
    body: str


class WelcomeRules(BaseModel):
    guide: Guide
    min_commission: Decimal
    benefits: list[Grant]
    first_trade: FirstTrade


@lru_cache(maxsize=1)
def rules() -> WelcomeRules:
    text = resources.files("brokercare.engagement").joinpath("data/welcome.yaml").read_text("utf-8")
    return WelcomeRules.model_validate(yaml.safe_load(text))


@dataclass(frozen=True)
class Welcomed:
    benefits: list[Benefit]
    guide_queued: bool  # False: already queued before, or the frequency cap held it back
    guide_due: datetime | None


def grant(session: Session, *, customer_id: int, source: str, today: date) -> list[Benefit]:
    """The welcome benefits of the rules the customer does not hold yet (caller commits)."""
    held = {b.code: b for b in session.scalars(select(Benefit).where(Benefit.customer_id == customer_id))}
    for g in rules().benefits:
        if g.code not in held:
            held[g.code] = Benefit(customer_id=customer_id, code=g.code, kind=g.kind, title=g.title,
                                   quantity=g.quantity, used=0, valid_until=today + timedelta(days=g.valid_days),
                                   source=source[:48])
            session.add(held[g.code])
    session.flush()
    return [held[g.code] for g in rules().benefits]


def welcome(session: Session, *, customer_id: int, name: str, account_no: str, bank_name: str | None,
            opened_at: datetime) -> Welcomed:
    """Benefits and the beginner's guide for a newly opened account (caller commits)."""
    cfg = rules()
    day = opened_at.astimezone(SHANGHAI).date()
    benefits = grant(session, customer_id=customer_id, source=f"account:{account_no}", today=day)
    ref = f"welcome:{account_no}"
    if (customer_id, ref) not in contact.allow(session, [(customer_id, ref)], kind="welcome", day=day):
        return Welcomed(benefits, False, None)
    values = {"name": name, "account_no": account_no, "bank": bank_name or "您绑定的",
              "benefits": "、".join(b.title for b in benefits)}
    fill = string.Formatter().vformat
    queued = enqueue(session, channel=cfg.guide.channel, kind="welcome_guide", customer_id=customer_id,
                     subject=fill(cfg.guide.subject, (), values), body=fill(cfg.guide.body, (), values),
                     idempotency_key=f"engagement:welcome:{customer_id}:{account_no}", origin="engagement",
                     origin_ref=ref, not_before=opened_at)
    return Welcomed(benefits, queued.created, opened_at + timedelta(minutes=cfg.guide.within_minutes))


def _waived(value: Decimal, rate: Decimal) -> Decimal:
    return max((value * rate).quantize(Decimal("0.01"), ROUND_HALF_UP), rules().min_commission)


def use_commission_waiver(session: Session, *, customer_id: int, ref: str, trade_value: Decimal,
                          commission_rate: Decimal, at: datetime) -> BenefitUse | None:
    """Spend one commission waiver on a trade (``ref``: the trade event's id): None when the
    customer has none left or valid on the trade's day; the same ref twice is one use."""
    day = at.astimezone(SHANGHAI).date()
    waivers = list(session.scalars(select(Benefit).where(
        Benefit.customer_id == customer_id, Benefit.kind == "commission_waiver").order_by(Benefit.id)))
    spent = session.scalar(select(BenefitUse).where(BenefitUse.benefit_id.in_([w.id for w in waivers]),
                                                    BenefitUse.ref == ref[:64]))
    if spent is not None:
        return spent
    waiver = next((w for w in waivers if w.used < w.quantity and w.valid_until >= day), None)
    if waiver is None:
        return None
    waiver.used += 1
    use = BenefitUse(benefit_id=waiver.id, ref=ref[:64], amount=_waived(trade_value, commission_rate), used_at=at,
                     detail=f"第{waiver.used}/{waiver.quantity}笔免佣")
    session.add(use)
    session.flush()
    return use


SIDE_ZH = {"buy": "买入", "sell": "卖出"}


def new_enough(opened_on: date, at: datetime) -> bool:
    """Whether a trade at ``at`` can be a new customer's first (within the rules' days of opening;
    a customer of years whose history was never imported is not congratulated)."""
    return (at.astimezone(SHANGHAI).date() - opened_on).days <= rules().first_trade.within_days


def congratulate_first_trade(session: Session, *, customer_id: int, name: str, side: str | None, stock: str,
                             quantity: Decimal | None, at: datetime) -> bool:
    """The first-trade message (caller commits): once per customer (its outbox key), under the
    frequency cap; whether it was queued now."""
    cfg = rules().first_trade
    day = at.astimezone(SHANGHAI).date()
    ref = f"first_trade:{customer_id}"
    if (customer_id, ref) not in contact.allow(session, [(customer_id, ref)], kind="first_trade", day=day):
        return False
    left = sum(b.quantity - b.used for b in benefits_of(session, customer_id)
               if b.kind == "commission_waiver" and b.valid_until >= day)
    values = {"name": name, "side": SIDE_ZH.get(side or "", "成交"), "stock": stock,
              "quantity": f" {quantity:,.0f} 股" if quantity else "",
              "waivers": f"这笔交易已使用开户礼包的免佣金权益，还剩 {left} 笔免佣。" if left else ""}
    fill = string.Formatter().vformat
    return enqueue(session, channel=cfg.channel, kind="first_trade", customer_id=customer_id,
                   subject=cfg.subject, body=fill(cfg.body, (), values),
                   idempotency_key=f"engagement:first_trade:{customer_id}", origin="engagement",
                   origin_ref=ref, not_before=at).created


def redeem(session: Session, *, customer_id: int, code: str, ref: str) -> BenefitUse:
    """Use a benefit that is not a waiver (the customer starts the course)."""
    benefit = session.scalar(select(Benefit).where(Benefit.customer_id == customer_id, Benefit.code == code))
    if benefit is None:
        raise NotFound("您没有这项礼包权益。")
    if benefit.used >= benefit.quantity:
        raise Conflict("这项权益已经用完了。")
    if benefit.valid_until < utcnow().astimezone(SHANGHAI).date():
        raise Conflict(f"这项权益已于{benefit.valid_until:%Y年%m月%d日}过期。")
    benefit.used += 1
    use = BenefitUse(benefit_id=benefit.id, ref=ref[:64], used_at=utcnow())
    session.add(use)
    session.flush()
    return use


def benefits_of(session: Session, customer_id: int) -> list[Benefit]:
    return list(session.scalars(select(Benefit).where(Benefit.customer_id == customer_id).order_by(Benefit.id)))


def uses_of(session: Session, customer_id: int) -> list[BenefitUse]:
    return list(session.scalars(select(BenefitUse).join(Benefit, Benefit.id == BenefitUse.benefit_id)
                                .where(Benefit.customer_id == customer_id).order_by(BenefitUse.id)))
