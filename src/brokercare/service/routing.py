"""Routing: from an analysed message and the customer's context to an outcome, by a YAML policy.

The policy (``data/routing_policy.yaml``, or the file named by
``BROKERCARE_SERVICE_ROUTING_POLICY``) is data, validated on load; :func:`decide` is a pure
function of (:class:`Analysis`, :class:`RoutingContext`, :class:`RoutingPolicy`), so a broker can
replay cases against a policy before deploying it and tests need no database.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from brokercare.core.calendar import is_trading_day
from brokercare.core.errors import ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.service.assistant import Analysis, intent_skill

OUTCOMES = ("ai_answer", "ai_offer_human", "human")
TIERS = ("vip", "potential", "mass", "long_tail", "prospect")
EMOTIONS = ("calm", "anxious", "angry", "disappointed", "satisfied")


@dataclass(frozen=True)
class RoutingContext:
    tier: str = "prospect"
    open_tickets: int = 0
    contacts_7d: int = 1
    business_hours: bool = True
    emergency: bool = False
    emergency_reason: str | None = None
    has_manager: bool = False
    channel: str = "app"


@dataclass(frozen=True)
class Decision:
    outcome: str
    rule: str
    skill: str | None
    priority: int
    ticket: str | bool | None = None
    after_hours: bool = False
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def to_human(self) -> bool:
        return self.outcome == "human"


# --- the policy ---------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Conditions(_Strict):
    intent: list[str] | None = None
    intent_not: list[str] | None = None
    skill: list[str] | None = None
    tier: list[str] | None = None
    emotion: list[str] | None = None
    channel: list[str] | None = None
    confidence_min: float | None = Field(None, ge=0, le=1)
    confidence_below: float | None = Field(None, ge=0, le=1)
    intensity_min: float | None = Field(None, ge=0, le=1)
    open_tickets_min: int | None = Field(None, ge=0)
    contacts_7d_min: int | None = Field(None, ge=0)
    business_hours: bool | None = None
    emergency: bool | None = None
    has_manager: bool | None = None
    any: list[Conditions] | None = None

    @field_validator("tier")
    @classmethod
    def _tiers(cls, v: list[str] | None) -> list[str] | None:
        for t in v or ():
            if t not in TIERS:
                raise ValueError(f"unknown tier {t!r}; expected one of {', '.join(TIERS)}")
        return v

    @field_validator("emotion")
    @classmethod
    def _emotions(cls, v: list[str] | None) -> list[str] | None:
        for e in v or ():
            if e not in EMOTIONS:
                raise ValueError(f"unknown emotion {e!r}; expected one of {', '.join(EMOTIONS)}")
        return v


class Then(_Strict):
    outcome: Literal["ai_answer", "ai_offer_human", "human"]
    skill: str | None = None
    priority: int = Field(5, ge=0, le=9)
    ticket: bool | Literal["emergency", "urgent", "general"] = False
    around_the_clock: bool = False


class Rule(_Strict):
    name: str
    when: Conditions
    then: Then


class BusinessHours(_Strict):
    days: Literal["trading_days", "weekdays", "every_day"] = "trading_days"
    open: time = time(8, 30)
    close: time = time(20, 0)
    timezone: str = "Asia/Shanghai"

    def is_open(self, moment: datetime) -> bool:
        """Whether the desk is staffed at ``moment`` (always, with ``BROKERCARE_DESK_ALWAYS_OPEN``)."""
        if get_settings().desk_always_open:
            return True
        local = moment.astimezone(ZoneInfo(self.timezone))
        return self._works_on(local.date()) and self.open <= local.time() < self.close

    def _works_on(self, day: date) -> bool:
        if self.days == "trading_days":
            return is_trading_day(day)
        return self.days == "every_day" or day.weekday() < 5

    def next_open(self, moment: datetime) -> datetime:
        """When the desk next opens after ``moment`` (``moment`` itself while it is open)."""
        if self.is_open(moment):
            return moment
        zone = ZoneInfo(self.timezone)
        day = moment.astimezone(zone).date()
        for _ in range(40):  # the longest closure (Spring Festival with its weekends) is ~10 days
            opening = datetime.combine(day, self.open, zone)
            if self._works_on(day) and opening > moment:
                return opening
            day += timedelta(days=1)
        raise ValidationFailed("the service desk does not open within 40 days; check business_hours")

    def hours_zh(self) -> str:
        """The desk's hours as customers read them: 交易日 8:30–20:00."""
        days = {"trading_days": "交易日", "weekdays": "工作日", "every_day": "每天"}[self.days]
        return f"{days} {self.open.hour}:{self.open.minute:02d}–{self.close.hour}:{self.close.minute:02d}"


class AfterHours(_Strict):
    outcome: Literal["ai_answer", "ai_offer_human"] = "ai_offer_human"
    ticket: bool | Literal["urgent", "general"] = True


class Emergency(_Strict):
    intents: list[str] = ["account_frozen"]
    limit_down_words: list[str] = ["跌停"]


class TicketIntents(_Strict):
    intents: list[str] = ["complaint"]
    confidence_min: float = Field(0.5, ge=0, le=1)


class RoutingPolicy(_Strict):
    business_hours: BusinessHours = BusinessHours()
    ticket_intents: TicketIntents = TicketIntents()
    after_hours: AfterHours = AfterHours()
    emergency: Emergency = Emergency()
    default_skill: str = "account_service"
    rules: list[Rule]
    default: Then = Then(outcome="ai_answer")

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        seen = set()
        for r in rules:
            if r.name in seen:
                raise ValueError(f"rule name {r.name!r} is used twice")
            seen.add(r.name)
        return rules


def parse_policy(text: str, source: str = "<policy>") -> RoutingPolicy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"routing policy {source} is not valid YAML: {exc}") from exc
    try:
        return RoutingPolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"routing policy {source}: {where}: {first['msg']}") from exc


@lru_cache(maxsize=8)
def _load(path: str | None) -> RoutingPolicy:
    if path:
        return parse_policy(Path(path).read_text("utf-8"), path)
    text = resources.files("brokercare.service").joinpath("data/routing_policy.yaml").read_text("utf-8")
    return parse_policy(text, "routing_policy.yaml")


def load_policy(path: str | None = None) -> RoutingPolicy:
    return _load(path or os.environ.get("BROKERCARE_SERVICE_ROUTING_POLICY") or None)


# --- deciding -----------------------------------------------------------------------------------

def _holds(c: Conditions, a: Analysis, ctx: RoutingContext, skill: str | None) -> bool:
    checks = (
        c.intent is None or a.intent in c.intent,
        c.intent_not is None or a.intent not in c.intent_not,
        c.skill is None or skill in c.skill,
        c.tier is None or ctx.tier in c.tier,
        c.emotion is None or a.emotion in c.emotion,
        c.channel is None or ctx.channel in c.channel,
        c.confidence_min is None or a.confidence >= c.confidence_min,
        c.confidence_below is None or a.confidence < c.confidence_below,
        c.intensity_min is None or a.intensity >= c.intensity_min,
        c.open_tickets_min is None or ctx.open_tickets >= c.open_tickets_min,
        c.contacts_7d_min is None or ctx.contacts_7d >= c.contacts_7d_min,
        c.business_hours is None or ctx.business_hours == c.business_hours,
        c.emergency is None or ctx.emergency == c.emergency,
        c.has_manager is None or ctx.has_manager == c.has_manager,
    )
    if not all(checks):
        return False
    return c.any is None or any(_holds(sub, a, ctx, skill) for sub in c.any)


def decide(analysis: Analysis, ctx: RoutingContext, policy: RoutingPolicy | None = None) -> Decision:
    policy = policy or load_policy()
    skill = intent_skill(analysis.intent)
    decision = None
    for rule in policy.rules:
        if _holds(rule.when, analysis, ctx, skill):
            decision = _apply(rule.name, rule.then, skill, ctx, policy, _reasons(rule.when))
            break
    decision = decision or _apply("default", policy.default, skill, ctx, policy, ())
    ti = policy.ticket_intents
    if not decision.ticket and analysis.intent in ti.intents and analysis.confidence >= ti.confidence_min:
        decision = replace(decision, ticket=True, reasons=decision.reasons + (f"ticket_intent={analysis.intent}",))
    return decision


def _apply(name: str, then: Then, skill: str | None, ctx: RoutingContext,
           policy: RoutingPolicy, reasons: tuple[str, ...]) -> Decision:
    chosen_skill = then.skill or skill or policy.default_skill
    if then.outcome == "human" and not ctx.business_hours and not then.around_the_clock:
        return Decision(
            outcome=policy.after_hours.outcome, rule=name, skill=chosen_skill,
            priority=then.priority, ticket=then.ticket or policy.after_hours.ticket,
            after_hours=True, reasons=reasons + ("business_hours=false",),
        )
    return Decision(
        outcome=then.outcome, rule=name, skill=chosen_skill, priority=then.priority,
        ticket=then.ticket or None, reasons=reasons,
    )


def _reasons(c: Conditions) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in c.model_dump(exclude_none=True).items())


def context_dict(ctx: RoutingContext) -> dict:
    return asdict(ctx)
