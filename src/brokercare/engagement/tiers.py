"""Tier services (seed 2.2.1) from ``data/tier_services.yaml``: the VIP's 1+N team, the potential
tier's quarterly review tasks, and which tiers get the monthly commentary and the education links
(:mod:`engagement.commentary`). A tier's services are what this file lists for it, nothing else.

Teams: the customer's own manager is the "1"; for each skill, the registered specialist with the
fewest VIP customers is added (ties to the earliest registered), and a customer who leaves the
VIP tier leaves their team. Reviews: one task per customer and quarter for their manager.
"""

from __future__ import annotations

import string
from collections import Counter
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources

import polars as pl
import yaml
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brokercare.customers.service import get_customer, stored_profiles, tiers_frame
from brokercare.engagement.models import ManagerTask, Specialist, TeamMember
from brokercare.security.service import get_user_by_username, users_by_id


class Team(BaseModel):
    label: str
    tiers: list[str]
    skills: dict[str, str] = Field(min_length=1)


class Review(BaseModel):
    label: str
    tiers: list[str]
    due_days: int = Field(ge=1, le=92)
    title: str
    script: list[str] = Field(min_length=1)


class Benchmark(BaseModel):
    symbol: str
    name: str


class Commentary(BaseModel):
    label: str
    tiers: list[str]
    channel: str
    benchmark: Benchmark
    subject: str
    top_holdings: int = Field(ge=1, le=10)


class Link(BaseModel):
    title: str
    url: str


class Education(BaseModel):
    label: str
    tiers: list[str]
    channel: str
    subject: str
    intro: str
    links: list[Link] = Field(min_length=1)


class TierServices(BaseModel):
    team: Team
    quarterly_review: Review
    monthly_commentary: Commentary
    education: Education

    def of_tier(self, tier: str) -> list[str]:
        """The services a tier gets, in words (the workbench's 360 and the CLI print them)."""
        return [s.label for s in (self.team, self.quarterly_review, self.monthly_commentary, self.education)
                if tier in s.tiers]


@lru_cache(maxsize=1)
def config() -> TierServices:
    text = resources.files("brokercare.engagement").joinpath("data/tier_services.yaml").read_text("utf-8")
    return TierServices.model_validate(yaml.safe_load(text))


def fill(template: str, values: dict) -> str:
    return string.Formatter().vformat(template, (), values)


def customers_in(session: Session, tiers: list[str]) -> list[int]:
    """Open customers whose stored tier is one of ``tiers``, by id."""
    frame = tiers_frame(session.connection())
    return frame.filter(pl.col("open") & pl.col("tier").is_in(tiers))["customer_id"].sort().to_list()


# --- the VIP's 1+N team ----------------------------------------------------------------------

def add_specialist(session: Session, *, username: str, skill: str) -> Specialist:
    """Register a member of staff as a specialist of ``skill`` (flushed; the caller commits)."""
    skills = config().team.skills
    if skill not in skills:
        raise ValidationFailed(f"unknown skill {skill!r}: expected one of {', '.join(skills)}")
    user = get_user_by_username(session, username)
    if user is None or not user.active:
        raise NotFound(f"no active staff login {username!r}")
    if user.role == "customer":
        raise ValidationFailed(f"{username} is a customer login, not staff")
    if session.scalar(select(Specialist.id).where(Specialist.user_id == user.id, Specialist.skill == skill)):
        raise Conflict(f"{username} is already a {skill} specialist")
    row = Specialist(user_id=user.id, skill=skill, active=True)
    session.add(row)
    session.flush()
    return row


def assign_teams(session: Session, day: date) -> dict[str, int]:
    """Every customer in the team's tiers gets one specialist per skill (least loaded first);
    customers who left those tiers leave their teams. Idempotent; counts assigned and released."""
    cfg = config().team
    members = set(customers_in(session, cfg.tiers))
    leaving = sorted(set(session.scalars(select(TeamMember.customer_id).distinct())) - members)
    released = 0
    for k in range(0, len(leaving), 900):
        released += session.execute(delete(TeamMember).where(TeamMember.customer_id.in_(leaving[k:k + 900]))).rowcount
    have = {(c, s) for c, s in session.execute(select(TeamMember.customer_id, TeamMember.skill))}
    load = Counter(dict(session.execute(select(TeamMember.user_id, func.count()).group_by(TeamMember.user_id)).all()))
    pool: dict[str, list[int]] = {}
    for user_id, skill in session.execute(select(Specialist.user_id, Specialist.skill)
                                          .where(Specialist.active.is_(True)).order_by(Specialist.id)):
        pool.setdefault(skill, []).append(user_id)
    assigned = 0
    for cid in sorted(members):
        for skill in cfg.skills:
            if (cid, skill) in have or not pool.get(skill):
                continue
            chosen = min(pool[skill], key=lambda u: load[u])  # min keeps the first of equals
            session.add(TeamMember(customer_id=cid, skill=skill, user_id=chosen, assigned_on=day))
            load[chosen] += 1
            assigned += 1
    session.flush()
    return {"assigned": assigned, "released": released}


def team_of(session: Session, customer_id: int, *, manager_id: int | None = None) -> list[dict]:
    """The customer's 1+N team for the 360 view: the manager first, then each skill's specialist
    (role in words, name); empty for a customer without one. With ``manager_id``, only the
    customer's own manager may ask."""
    customer = get_customer(session, customer_id)
    if manager_id is not None and customer.manager_id != manager_id:
        raise PermissionDenied("只有客户的专属客户经理可以查看其服务团队")
    rows = list(session.scalars(select(TeamMember).where(TeamMember.customer_id == customer_id)))
    if not rows:
        return []
    skills = config().team.skills
    users = users_by_id(session, [r.user_id for r in rows] + ([customer.manager_id] if customer.manager_id else []))
    team = []
    if customer.manager_id in users:
        team.append({"role": "客户经理（牵头）", "name": users[customer.manager_id].display_name,
                     "user_id": customer.manager_id})
    order = list(skills)
    for r in sorted(rows, key=lambda r: order.index(r.skill) if r.skill in order else len(order)):
        if r.user_id in users:
            team.append({"role": skills.get(r.skill, "专家"), "name": users[r.user_id].display_name,
                         "user_id": r.user_id})
    return team


# --- the potential tier's quarterly review ---------------------------------------------------

#: Widest id range of stored profiles read at once for the review tasks.
PROFILE_RANGE = 20_000


def quarter_of(day: date) -> tuple[str, date]:
    """``("2026Q4", first day of the quarter)``."""
    q = (day.month - 1) // 3 + 1
    return f"{day.year}Q{q}", date(day.year, 3 * q - 2, 1)


def _wan(amount: float) -> str:
    return f"{amount / 10_000:,.1f}万元" if amount >= 10_000 else f"{amount:,.0f}元"


def _allocation(features: dict) -> str:
    if float(features.get("aum") or 0) <= 0:
        return "目前还没有资产"
    cash, stock, equity = (float(features.get(k) or 0) for k in ("cash_share", "stock_share", "equity_share"))
    return f"其中现金约占{cash:.0%}、股票约占{stock:.0%}、权益类合计约占{equity:.0%}"


def id_ranges(ids: list[int], width: int = PROFILE_RANGE) -> list[tuple[int, int]]:
    """Sorted ids grouped into ``(lo, hi)`` ranges no wider than ``width``: the profiles of a
    few scattered customers are read without reading everyone's in between."""
    out: list[tuple[int, int]] = []
    for cid in ids:
        if out and cid - out[-1][0] < width:
            out[-1] = (out[-1][0], cid)
        else:
            out.append((cid, cid))
    return out


def _missing_reviews(session: Session, wanted: list[int], quarter: str) -> list[int]:
    """The customers of ``wanted`` (sorted) with no review task for ``quarter`` yet."""
    have: set[str] = set()
    for k in range(0, len(wanted), 900):
        keys = [f"review:{cid}:{quarter}" for cid in wanted[k:k + 900]]
        have |= set(session.scalars(select(ManagerTask.key).where(ManagerTask.key.in_(keys))))
    return [cid for cid in wanted if f"review:{cid}:{quarter}" not in have]


def raise_quarterly_reviews(session: Session, day: date) -> int:
    """A review task for the manager of every customer in the review's tiers, one per quarter
    (the key ``review:<customer>:<quarter>``), due ``due_days`` after the quarter began (at least
    a week after it is raised). Only the profiles of customers still without one are read."""
    cfg = config().quarterly_review
    quarter, start = quarter_of(day)
    missing = _missing_reviews(session, customers_in(session, cfg.tiers), quarter)
    due_on = max(start + timedelta(days=cfg.due_days), day + timedelta(days=7))  # a late joiner gets a week
    due = datetime.combine(due_on, time(18, 0), tzinfo=SHANGHAI)
    label = f"{start.year}年第{(start.month - 1) // 3 + 1}季度"
    wanted, created = set(missing), 0
    for lo, hi in id_ranges(missing):
        for profile in stored_profiles(session.connection(), lo=lo, hi=hi):
            cid = profile["customer_id"]
            if cid not in wanted:
                continue
            f = profile["features"]
            values = {"name": profile["name"], "quarter": label, "aum": _wan(float(f.get("aum") or 0)),
                      "allocation": _allocation(f)}
            session.add(ManagerTask(key=f"review:{cid}:{quarter}", customer_id=cid, manager_id=profile["manager_id"],
                                    kind="quarterly_review", title=fill(cfg.title, values),
                                    script="".join(fill(line, values) for line in cfg.script), state="open", due_at=due))
            created += 1
    session.flush()
    return created
