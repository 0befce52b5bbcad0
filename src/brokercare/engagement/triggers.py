"""Event triggers (``data/triggers.yaml``): greetings on a customer's birthday, their account
anniversary and the Chinese festivals of the shipped calendar; and, when a VIP's or a
potential-tier customer's holding hits limit-down, an emergency task for their manager due 15
minutes after the limit-down, with a suggested script.

Greetings are templates filled per customer, sent on the first channel the customer chose (their
message preferences, monitoring's) or else of the template's order that they can receive, under the frequency cap shared with the daily report and
the leads (:mod:`engagement.contact`), through the outbox (which holds them through quiet hours)
after the configured hour and never on a later day.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.service import holders_of
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, PermissionDenied
from brokercare.customers.service import (
    get_customers,
    open_customer_ids,
    stored_profiles,
    tiers_and_managers,
)
from brokercare.engagement import contact
from brokercare.engagement.models import ManagerTask
from brokercare.market.service import (
    instruments_by_symbol,
    instruments_of_kinds,
    limit_arrays,
    previous_closes,
    valuations,
)
from brokercare.monitoring.service import alerts_since, message_channels
from brokercare.outbox.schemas import NewMessage
from brokercare.outbox.service import enqueue_many

PARTITION = 20_000


class Template(BaseModel):
    priority: int
    channels: list[str] = Field(min_length=1)
    subject: str
    body: str


class Festival(BaseModel):
    key: str
    name: str
    greeting: str
    dates: list[date] = []
    month_day: str | None = None

    def falls_on(self, day: date) -> bool:
        return day in self.dates or (self.month_day is not None and f"{day:%m-%d}" == self.month_day)


class LimitDown(BaseModel):
    tiers: list[str]
    due_minutes: int = Field(ge=1)
    title: str
    script: list[str] = Field(min_length=1)


class Triggers(BaseModel):
    send_at: time
    expires_at: time
    greetings: dict[str, Template]
    festivals: list[Festival]
    limit_down: LimitDown


@lru_cache(maxsize=1)
def config() -> Triggers:
    text = resources.files("brokercare.engagement").joinpath("data/triggers.yaml").read_text("utf-8")
    return Triggers.model_validate(yaml.safe_load(text))


def _fill(template: str, values: dict) -> str:
    return string.Formatter().vformat(template, (), values)


def festival_on(day: date) -> Festival | None:
    return next((f for f in config().festivals if f.falls_on(day)), None)


def _same_day(born: date | None, day: date) -> bool:
    """A yearly date falls on ``day`` (29 February on the 28th in other years)."""
    if born is None:
        return False
    if born.month == 2 and born.day == 29 and not _leap(day.year):
        return (day.month, day.day) == (2, 28)
    return (born.month, born.day) == (day.month, day.day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@dataclass(frozen=True)
class Greeting:
    customer_id: int
    kind: str  # birthday, anniversary, festival
    priority: int
    message: NewMessage


def _channel(template: Template, features: dict, chosen: list[str]) -> str:
    """The customer's own first choice they can receive, else the template's."""
    can = {"app": True, "wechat": bool(features.get("wechat_bound")), "sms": bool(features.get("phone_verified"))}
    return next((c for c in [*chosen, *template.channels] if can.get(c)), "app")


def _greeting(kind: str, profile: dict, day: date, values: dict, chosen: list[str]) -> Greeting:
    cfg = config()
    template = cfg.greetings[kind]
    values = {"name": profile["name"], **values}
    return Greeting(profile["customer_id"], kind, template.priority, NewMessage(
        channel=_channel(template, profile["features"], chosen), kind=f"greeting_{kind}",
        subject=_fill(template.subject, values), body=_fill(template.body, values),
        customer_id=profile["customer_id"], origin="engagement", origin_ref=f"{kind}:{day.isoformat()}",
        idempotency_key=f"engagement:{kind}:{profile['customer_id']}:{day.isoformat()}",
        not_before=datetime.combine(day, cfg.send_at, tzinfo=SHANGHAI),
        expires_at=datetime.combine(day, cfg.expires_at, tzinfo=SHANGHAI)))


def greetings_for(profiles: list[dict], day: date, channels: dict[int, list[str]] | None = None) -> list[Greeting]:
    """Each customer's greetings of ``day``, most personal first (``channels``: the channels
    customers chose, by id)."""
    festival = festival_on(day)
    out = []
    for p in profiles:
        chosen = (channels or {}).get(p["customer_id"], [])
        if _same_day(p["birth_date"], day):
            out.append(_greeting("birthday", p, day, {}, chosen))
        years = day.year - p["opened_on"].year if p["opened_on"] else 0
        if years >= 1 and _same_day(p["opened_on"], day):
            out.append(_greeting("anniversary", p, day, {"years": years}, chosen))
        if festival is not None:
            out.append(_greeting("festival", p, day, {"festival": festival.name, "greeting": festival.greeting},
                                 chosen))
    return sorted(out, key=lambda g: (g.customer_id, g.priority))


@dataclass
class Sent:
    queued: int = 0
    capped: int = 0


def send_greetings(session: Session, day: date, *, partition: int = PARTITION) -> Sent:
    """The day's greetings of every open customer with a profile, under the cap (caller commits)."""
    total = Sent()
    ids = open_customer_ids(session.connection())
    for lo in range(ids[0] if ids else 1, (ids[-1] if ids else 0) + 1, partition):
        profiles = stored_profiles(session.connection(), lo=lo, hi=lo + partition - 1)
        wanted = [p for p in profiles if festival_on(day) or _same_day(p["birth_date"], day)
                  or _same_day(p["opened_on"], day)]
        found = greetings_for(wanted, day, message_channels(session, [p["customer_id"] for p in wanted]))
        allowed: set[tuple[int, str]] = set()
        for kind in ("birthday", "anniversary", "festival"):  # the cap is asked in priority order
            ref = f"{kind}:{day.isoformat()}"
            allowed |= contact.allow(session, [(g.customer_id, ref) for g in found if g.kind == kind],
                                     kind=kind, day=day)
        going = [g for g in found if (g.customer_id, f"{g.kind}:{day.isoformat()}") in allowed]
        total.queued += sum(q.created for q in enqueue_many(session, [g.message for g in going]))
        total.capped += len(found) - len(going)
    return total


# --- limit-down: the manager's emergency task ----------------------------------------------------

def _alert_day(fired_at: datetime) -> date:
    return fired_at.astimezone(SHANGHAI).date()


@dataclass(frozen=True)
class LimitDownHit:
    customer_id: int
    symbol: str
    change_pct: float | None
    at: datetime  # when it was seen: the alert's time, or the run that found the quote


def _from_alerts(session: Session, since: datetime) -> list[LimitDownHit]:
    return [LimitDownHit(a.customer_id, a.symbol, a.change_pct, a.fired_at)
            for a in alerts_since(session, since, rules=("limit_down",)) if a.symbol]


def _from_quotes(session: Session, now: datetime) -> list[LimitDownHit]:
    """Holdings whose share trades at its limit-down price on a quote of today, whoever holds
    them: monitoring's alert is skipped for customers who turned limit alerts off, and the
    manager's call must not depend on the customer's own alert preference."""
    day = now.astimezone(SHANGHAI).date()
    stocks = instruments_of_kinds(session, ["stock"])
    if not stocks:
        return []
    symbols = [i.symbol for i in stocks]
    prev = previous_closes(session, symbols, day)
    _up, down = limit_arrays([i.board for i in stocks], [i.is_st for i in stocks], [i.listed_on for i in stocks],
                             prev, day)
    quotes = valuations(session, symbols, now=now)
    at_limit = {}
    for k, symbol in enumerate(symbols):
        q = quotes.get(symbol)
        if (q is None or q.as_of is None or q.as_of.astimezone(SHANGHAI).date() != day or np.isnan(down[k])
                or float(q.price) > down[k] + 1e-9):
            continue
        at_limit[symbol] = round((float(q.price) / prev[k] - 1) * 100, 2)
    return [LimitDownHit(cid, symbol, at_limit[symbol], now) for cid, symbol in holders_of(session, at_limit)]


def limit_down_tasks(session: Session, since: datetime, *, now: datetime | None = None) -> int:
    """An emergency task per (customer, share, day) for each holding of a customer in the
    configured tiers at limit-down — from monitoring's alerts fired since ``since`` and from the
    quotes themselves (whatever the customer's alert settings); due ``due_minutes`` after it was
    seen. Idempotent (caller commits); returns the tasks created."""
    cfg = config().limit_down
    hits = _from_alerts(session, since) + _from_quotes(session, now or utcnow())
    tiers = tiers_and_managers(session, sorted({h.customer_id for h in hits}))
    wanted = [h for h in hits if tiers.get(h.customer_id, ("", None))[0] in cfg.tiers]
    if not wanted:
        return 0
    names = {c.id: c.name for c in get_customers(session, sorted({h.customer_id for h in wanted}))}
    stocks = instruments_by_symbol(session, {h.symbol for h in wanted})
    keys: dict[str, LimitDownHit] = {}
    for h in wanted:  # the alert first: it carries the exact time of the limit-down
        keys.setdefault(f"limit_down:{h.customer_id}:{h.symbol}:{_alert_day(h.at).isoformat()}", h)
    existing = set(session.scalars(select(ManagerTask.key).where(ManagerTask.key.in_(keys))))
    created = 0
    for key, h in keys.items():
        if key in existing:
            continue
        stock = stocks[h.symbol].name if h.symbol in stocks else h.symbol
        change = f"{h.change_pct:+.2f}%" if h.change_pct is not None else "跌停"
        values = {"name": names.get(h.customer_id, "客户"), "stock": stock, "change": change}
        session.add(ManagerTask(key=key, customer_id=h.customer_id, manager_id=tiers[h.customer_id][1],
                                kind="limit_down", title=_fill(cfg.title, values),
                                script="".join(_fill(line, values) for line in cfg.script),
                                state="open", due_at=h.at + timedelta(minutes=cfg.due_minutes)))
        created += 1
    session.flush()
    return created


#: A task's kind in words, for pages.
TASK_KIND_LABELS = {"limit_down": "跌停紧急联系", "quarterly_review": "季度资产检视", "goal_watch": "目标偏离",
                    "package_watch": "组合偏离", "goal_reached_watch": "目标达成"}


def is_overdue(task: ManagerTask, now: datetime | None = None) -> bool:
    """An open task past its due time."""
    return task.state == "open" and task.due_at < (now or utcnow())


def tasks_of(session: Session, *, manager_id: int | None, state: str | None = "open", limit: int = 100) -> list[ManagerTask]:
    """Tasks by due time: one manager's (``manager_id``) or everyone's (None)."""
    stmt = select(ManagerTask).order_by(ManagerTask.due_at, ManagerTask.id).limit(limit)
    if manager_id is not None:
        stmt = stmt.where(ManagerTask.manager_id == manager_id)
    if state is not None:
        stmt = stmt.where(ManagerTask.state == state)
    return list(session.scalars(stmt))


def complete_task(session: Session, task_id: int, *, by_manager: int | None) -> ManagerTask:
    task = session.get(ManagerTask, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    if by_manager is not None and task.manager_id != by_manager:
        raise PermissionDenied("this task belongs to another customer manager")
    if task.state != "open":
        raise Conflict("this task is already done")
    task.state, task.done_at = "done", utcnow()
    session.flush()
    return task
