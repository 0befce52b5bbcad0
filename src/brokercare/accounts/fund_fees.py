"""Fund fee schedules (``data/fund_fees.yaml``) and the arithmetic of a confirmation.

Pure functions, no database: the subscription fee by amount tier ("外扣法", with the distributor's
discount on percentage rates), units rounded down to 0.01, and the redemption fee by holding
period computed FIFO over the customer's lots. The confirmation (:mod:`fund_confirmation`) and the
order's fee estimate both call these, so a fee is computed one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources

import yaml

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Tier:
    below: Decimal | None  # amount (元) or holding days; None: the last tier
    rate: Decimal | None
    fixed: Decimal | None = None


@dataclass(frozen=True)
class Schedule:
    name: str
    subscription: tuple[Tier, ...]
    redemption: tuple[Tier, ...]


@dataclass(frozen=True)
class FeeRules:
    min_subscription: Decimal
    max_subscription: Decimal
    min_redemption_units: Decimal
    discount: Decimal
    schedules: dict[str, Schedule]
    by_type: dict[str, str]
    default: str
    overrides: dict[str, str]


def _tiers(raw: list[dict], bound: str) -> tuple[Tier, ...]:
    def dec(v) -> Decimal | None:
        return None if v is None else Decimal(str(v))
    return tuple(Tier(dec(t.get(bound)), dec(t.get("rate")), dec(t.get("fixed"))) for t in raw)


@lru_cache
def fee_rules() -> FeeRules:
    raw = yaml.safe_load(resources.files("brokercare.accounts").joinpath(
        "data/fund_fees.yaml").read_text("utf-8"))
    limits = raw["limits"]
    return FeeRules(
        min_subscription=Decimal(str(limits["min_subscription"])),
        max_subscription=Decimal(str(limits["max_subscription"])),
        min_redemption_units=Decimal(str(limits["min_redemption_units"])),
        discount=Decimal(str(raw["subscription_discount"])),
        schedules={name: Schedule(name, _tiers(s["subscription"], "below"),
                                  _tiers(s["redemption"], "below_days"))
                   for name, s in raw["schedules"].items()},
        by_type=dict(raw["by_type"]), default=raw["default"], overrides=dict(raw.get("overrides") or {}))


def schedule_for(symbol: str, fund_type: str | None, name: str) -> Schedule:
    """The fund's own override, else its type's schedule; a C share class pays no subscription fee."""
    rules = fee_rules()
    if symbol in rules.overrides:
        return rules.schedules[rules.overrides[symbol]]
    key = rules.by_type.get(fund_type or "", rules.default)
    if key != "money" and name.rstrip().upper().endswith("C"):
        key = "class_c"
    return rules.schedules[key]


def _tier(tiers: tuple[Tier, ...], value: Decimal) -> Tier:
    return next(t for t in tiers if t.below is None or value < t.below)


@dataclass(frozen=True)
class Subscription:
    fee: Decimal
    net: Decimal
    units: Decimal
    rate: Decimal | None  # the effective rate after the discount; None for a fixed fee


def subscription_fee(schedule: Schedule, amount: Decimal) -> tuple[Decimal, Decimal | None]:
    """The fee on ``amount`` and the effective rate (外扣法: fee = amount − amount / (1 + rate))."""
    tier = _tier(schedule.subscription, amount)
    if tier.fixed is not None:
        return min(tier.fixed, amount), None
    rate = tier.rate * fee_rules().discount
    net = (amount / (1 + rate)).quantize(CENT, ROUND_HALF_UP)
    return amount - net, rate


def subscribe(schedule: Schedule, amount: Decimal, nav: Decimal) -> Subscription:
    """Units for ``amount`` at ``nav``: (amount − fee) / NAV, rounded down to 0.01 unit."""
    fee, rate = subscription_fee(schedule, amount)
    net = amount - fee
    return Subscription(fee, net, (net / nav).quantize(CENT, ROUND_DOWN), rate)


@dataclass(frozen=True)
class Lot:
    """Units held since ``start`` (None: before any record, charged as the longest holding)."""

    start: date | None
    units: Decimal


@dataclass(frozen=True)
class LotSlice:
    start: date | None
    units: Decimal
    days: int | None
    rate: Decimal

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat() if self.start else None, "units": str(self.units),
                "days": self.days, "rate": str(self.rate)}


@dataclass(frozen=True)
class Redemption:
    gross: Decimal
    fee: Decimal
    proceeds: Decimal
    slices: tuple[LotSlice, ...]


def redemption_rate(schedule: Schedule, days: int | None) -> Decimal:
    if days is None:
        return schedule.redemption[-1].rate
    return _tier(schedule.redemption, Decimal(days)).rate


def fifo(lots: list[Lot], units: Decimal, day: date, schedule: Schedule) -> list[LotSlice]:
    """Take ``units`` from the oldest lots first; each slice carries its holding days and rate."""
    slices, left = [], units
    for lot in sorted(lots, key=lambda x: x.start or date.min):
        if left <= 0:
            break
        take = min(lot.units, left)
        if take <= 0:
            continue
        days = (day - lot.start).days if lot.start else None
        slices.append(LotSlice(lot.start, take, days, redemption_rate(schedule, days)))
        left -= take
    if left > 0:
        raise ValueError(f"lots hold {units - left} units, {units} asked")
    return slices


def redeem(schedule: Schedule, lots: list[Lot], units: Decimal, nav: Decimal, day: date) -> Redemption:
    """Proceeds of ``units`` redeemed at ``nav`` on ``day``: units × NAV − the FIFO holding fee."""
    slices = fifo(lots, units, day, schedule)
    gross = (units * nav).quantize(CENT, ROUND_HALF_UP)
    fee = sum((s.units * nav * s.rate for s in slices), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    return Redemption(gross, fee, gross - fee, tuple(slices))
