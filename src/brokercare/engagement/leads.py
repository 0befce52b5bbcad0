"""Leads for customer managers: needs predicted from the profile by the rules of
``data/leads.yaml``, scored, worded in Chinese, assigned to the customer's manager and followed to
an outcome.

A rule is data: conditions over profile features (no expressions evaluated), a logistic score
with weights, a cool-down and the words. :func:`raise_leads` walks the customers a partition at a
time through ``customers.service.stored_profiles``; a customer gets a lead for a need only when
no lead for that need was raised within its cool-down (whatever became of it) and the contact
frequency cap lets one more proactive touch through (:mod:`engagement.contact`).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brokercare.customers.service import (
    feature_names,
    get_customer,
    open_customer_ids,
    stored_profiles,
)
from brokercare.engagement import contact
from brokercare.engagement.models import Lead

STATES = ("new", "contacted", "won", "lost")
NEXT_STATES = {"new": {"contacted", "won", "lost"}, "contacted": {"won", "lost"}, "won": set(), "lost": set()}
STATE_LABELS = {"new": "新线索", "contacted": "已联系", "won": "已成交", "lost": "未成交"}
LIFE_EVENTS = {"marriage": "新婚", "child_birth": "喜添新丁", "child_school": "孩子入学", "house_purchase": "购置新房",
               "job_change": "更换工作", "promotion": "职位晋升", "relocation": "迁居", "retirement": "退休"}
PARTITION = 20_000
Op = Literal["lt", "lte", "gt", "gte", "eq", "in"]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str | None = None
    sum: list[str] | None = None
    tag: str | None = None
    lt: float | None = None
    lte: float | None = None
    gt: float | None = None
    gte: float | None = None
    eq: Any = None
    in_: list[Any] | None = Field(None, alias="in")

    @model_validator(mode="after")
    def _one_subject(self) -> Condition:
        subjects = [x for x in (self.feature, self.sum, self.tag) if x is not None]
        if len(subjects) != 1:
            raise ValueError("a condition names exactly one of feature, sum or tag")
        known = feature_names()
        unknown = [f for f in ([self.feature] if self.feature else self.sum or []) if f not in known]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}")
        return self

    def holds(self, features: dict, tags: list[str]) -> bool:
        if self.tag is not None:
            return self.tag in tags
        value = (sum(features.get(f) or 0 for f in self.sum) if self.sum is not None
                 else features.get(self.feature))
        if value is None:
            return False
        checks = ((self.lt, lambda v, x: v < x), (self.lte, lambda v, x: v <= x), (self.gt, lambda v, x: v > x),
                  (self.gte, lambda v, x: v >= x), (self.eq, lambda v, x: v == x), (self.in_, lambda v, x: v in x))
        return all(check(value, bound) for bound, check in checks if bound is not None)


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intercept: float
    weights: dict[str, float]

    def of(self, features: dict) -> float:
        z = self.intercept
        for key, weight in self.weights.items():
            name = key.removeprefix("log10:")
            x = float(features.get(name) or 0.0)
            z += weight * (math.log10(max(x, 1.0)) if key.startswith("log10:") else x)
        return 1.0 / (1.0 + math.exp(-z))


class Need(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z_]{2,32}$")
    label: str
    cooldown_days: int = Field(ge=1)
    when: list[Condition] = Field(min_length=1)
    score: Score
    min_score: float = Field(ge=0, le=1)
    reason: str
    talking_points: list[str] = Field(min_length=1)


class Rules(BaseModel):
    needs: list[Need]


@lru_cache(maxsize=1)
def rules() -> Rules:
    text = resources.files("brokercare.engagement").joinpath("data/leads.yaml").read_text("utf-8")
    return Rules.model_validate(yaml.safe_load(text))


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def _words(template: str, profile: dict) -> str:
    """The template filled from the profile's features and a few derived, readable values."""
    f = profile["features"]
    values = _Blank({k: ("—" if v is None else v) for k, v in f.items()})
    values.update(name=profile["name"], aum_wan=f"{(f.get('aum') or 0) / 1e4:,.1f}",
                  cash_wan=f"{(f.get('cash_balance') or 0) / 1e4:,.1f}",
                  usd_pct=f"{(f.get('usd_asset_share') or 0):.1%}", cash_pct=f"{(f.get('cash_share') or 0):.0%}",
                  life_event=LIFE_EVENTS.get(f.get("last_life_event") or "", "有人生大事"))
    return string.Formatter().vformat(template, (), values)


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    manager_id: int | None
    need: Need
    score: float
    reason: str
    talking_points: list[str]


def candidates(profiles: list[dict], needs: list[Need] | None = None) -> list[Candidate]:
    """Every (customer, need) whose rule holds and whose score reaches the need's minimum."""
    out = []
    for p in profiles:
        for need in needs or rules().needs:
            if not all(c.holds(p["features"], p["tags"]) for c in need.when):
                continue
            score = need.score.of(p["features"])
            if score >= need.min_score:
                out.append(Candidate(p["customer_id"], p["manager_id"], need, round(score, 4),
                                     _words(need.reason, p), [_words(t, p) for t in need.talking_points]))
    return out


def _cooling(session: Session, found: list[Candidate], day: date) -> set[tuple[int, str]]:
    """The (customer, need) pairs that had a lead within the need's cool-down before ``day``."""
    if not found:
        return set()
    longest = max(c.need.cooldown_days for c in found)
    cooldown = {c.need.key: c.need.cooldown_days for c in found}
    rows = session.execute(select(Lead.customer_id, Lead.need, func.max(Lead.raised_on))
                           .where(Lead.customer_id.in_({c.customer_id for c in found}),
                                  Lead.raised_on > day - timedelta(days=longest))
                           .group_by(Lead.customer_id, Lead.need))
    return {(cid, need) for cid, need, last in rows
            if need in cooldown and (day - last).days < cooldown[need]}


def _ref(c: Candidate, day: date) -> str:
    return f"{c.need.key}:{day.isoformat()}"


@dataclass
class Raised:
    leads: int = 0
    cooling: int = 0
    capped: int = 0


def raise_for(session: Session, profiles: list[dict], day: date) -> Raised:
    """Raise the partition's new leads of ``day`` in the caller's transaction."""
    found = candidates(profiles)
    cooling = _cooling(session, found, day)
    fresh = [c for c in found if (c.customer_id, c.need.key) not in cooling]
    allowed = contact.allow(session, [(c.customer_id, _ref(c, day)) for c in fresh], kind="lead", day=day)
    raised = [c for c in fresh if (c.customer_id, _ref(c, day)) in allowed]
    session.add_all(Lead(customer_id=c.customer_id, need=c.need.key, manager_id=c.manager_id, score=c.score,
                         reason=c.reason, talking_points=c.talking_points, state="new", raised_on=day)
                    for c in raised)
    session.flush()
    return Raised(leads=len(raised), cooling=len(found) - len(fresh), capped=len(fresh) - len(raised))


def raise_leads(session: Session, day: date, *, partition: int = PARTITION) -> Raised:
    """The nightly run: every open customer's profile, a partition at a time (caller commits)."""
    total = Raised()
    ids = open_customer_ids(session.connection())
    for lo in range(ids[0] if ids else 1, (ids[-1] if ids else 0) + 1, partition):
        part = raise_for(session, stored_profiles(session.connection(), lo=lo, hi=lo + partition - 1), day)
        total.leads, total.cooling, total.capped = (total.leads + part.leads, total.cooling + part.cooling,
                                                    total.capped + part.capped)
    return total


def raise_stated(session: Session, *, customer_id: int, need_key: str, said: str, day: date) -> Lead | None:
    """A lead from a need the customer stated in chat (``customer.need_stated``): score 1 (said, not
    predicted), the customer's words as its reason, the need's talking points. Not raised within the
    need's cool-down of an earlier lead, and not held back by the contact cap: the customer asked."""
    need = next((n for n in rules().needs if n.key == need_key), None)
    if need is None:
        raise ValidationFailed(f"unknown need {need_key!r} (engagement/data/leads.yaml)")
    [profile] = stored_profiles(session.connection(), lo=customer_id, hi=customer_id) or [None]
    if profile is None:  # no stored profile yet: the talking points read what is known
        customer = get_customer(session, customer_id)
        profile = {"customer_id": customer_id, "name": customer.name, "manager_id": customer.manager_id,
                   "tags": [], "features": {}}
    stated = Candidate(customer_id, profile["manager_id"], need, 1.0, f"客户在咨询中说：“{said}”",
                       [_words(t, profile) for t in need.talking_points])
    if _cooling(session, [stated], day):
        return None
    lead = Lead(customer_id=customer_id, need=need.key, manager_id=stated.manager_id, score=stated.score,
                reason=stated.reason, talking_points=stated.talking_points, state="new", raised_on=day)
    session.add(lead)
    session.flush()
    return lead


# --- a manager's leads -------------------------------------------------------------------------

def need_labels() -> dict[str, str]:
    return {n.key: n.label for n in rules().needs}


def leads_of(session: Session, *, manager_id: int | None, state: str | None = None, limit: int = 200) -> list[Lead]:
    """Leads newest first: one manager's (``manager_id``), or everyone's (None)."""
    if state is not None and state not in STATES:
        raise ValidationFailed(f"unknown state {state!r}: expected one of {', '.join(STATES)}")
    stmt = select(Lead).order_by(Lead.raised_on.desc(), Lead.score.desc(), Lead.id.desc()).limit(limit)
    if manager_id is not None:
        stmt = stmt.where(Lead.manager_id == manager_id)
    if state is not None:
        stmt = stmt.where(Lead.state == state)
    return list(session.scalars(stmt))


def update_lead(session: Session, lead_id: int, *, state: str, by_manager: int | None,
                outcome: str | None = None, amount: Decimal | None = None) -> Lead:
    """Move a lead on (new → contacted → won / lost); ``by_manager``: only that manager's lead
    (None: a team lead or an admin). A won lead needs the amount; a closed one its outcome."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} not found")
    if by_manager is not None and lead.manager_id != by_manager:
        raise PermissionDenied("this lead belongs to another customer manager")
    if state not in NEXT_STATES[lead.state]:
        raise Conflict(f"a {lead.state} lead cannot become {state}")
    if state == "won" and (amount is None or amount <= 0):
        raise ValidationFailed("a won lead needs the amount won (> 0)")
    if state in ("won", "lost") and not (outcome or "").strip():
        raise ValidationFailed("a closed lead needs its outcome")
    now = utcnow()
    lead.state = state
    if state == "contacted" or lead.contacted_at is None:
        lead.contacted_at = now
    if state in ("won", "lost"):
        lead.closed_at, lead.outcome, lead.amount = now, outcome.strip(), amount if state == "won" else None
    session.flush()
    return lead


def conversion(session: Session, *, since: date) -> list[dict]:
    """Per need, the leads raised from ``since`` on by state and the amount won — the aggregate
    the service-quality domain reads to measure the conversion of proactive leads."""
    rows = session.execute(select(Lead.need, Lead.state, func.count(), func.sum(Lead.amount))
                           .where(Lead.raised_on >= since).group_by(Lead.need, Lead.state))
    out: dict[str, dict] = {}
    for need, state, n, amount in rows:
        row = out.setdefault(need, {"need": need, **dict.fromkeys(STATES, 0), "won_amount": Decimal(0)})
        row[state] = n
        if state == "won":
            row["won_amount"] = Decimal(amount or 0)
    for row in out.values():
        closed = row["won"] + row["lost"]
        row["raised"] = sum(row[s] for s in STATES)
        row["win_rate"] = round(row["won"] / closed, 4) if closed else None
    return sorted(out.values(), key=lambda r: r["need"])
