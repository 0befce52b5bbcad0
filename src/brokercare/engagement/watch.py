"""Goals and packages watched each night from what the customer actually holds.

A goal's saved amount is not the figure the customer typed in but the market value of their
holdings in the goal's package (``advisory.service.goal_package``: 教育金 for an education goal,
养老 for retirement, the one-year steady package for a target return); goals with no package
holding share the rest of the customer's assets (other holdings and available cash) in
proportion to their targets. Advisory re-projects the goal with that amount
(``review_goal``) and measures the package's drift against its band (``package_drift``).

When a goal turns off track or a package drifts beyond its band, the customer is told once
(outbox, under the frequency cap and the outbox's quiet hours; held back by the cap, it is tried
again the next night) and their manager gets a task with the suggested adjustment. A verdict is
kept in ``engagement_watches``; nothing more is sent while it stays bad; once it recovers, a
later relapse is a new episode. A goal the holdings now reach is celebrated once: the customer
hears what they can do next and the manager gets a task to talk it through.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.service import available_cash, positions_of
from brokercare.advisory.service import (
    active_goals,
    goal_package,
    package_drift,
    review_goal,
    reviewed_on,
)
from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import DomainError
from brokercare.customers.service import tiers_and_managers
from brokercare.engagement import contact
from brokercare.engagement.models import ManagerTask, Watch
from brokercare.outbox.schemas import NewMessage
from brokercare.outbox.service import enqueue_many

#: Days the manager has to act on an off-track goal or a drifted package.
TASK_DUE_DAYS = 3


@dataclass
class Watched:
    goals: int = 0
    off_track: int = 0
    drifted: int = 0
    notified: int = 0
    capped: int = 0
    tasks: int = 0
    skipped: int = 0
    reused: int = 0  # goals advisory had already re-projected today at the same amount
    reached: int = 0


@dataclass(frozen=True)
class Finding:
    key: str  # goal:12, package:12, goal_reached:12
    customer_id: int
    kind: str  # goal, package, goal_reached
    bad: bool
    subject: str
    body: str  # to the customer
    task: str  # the manager's task title
    detail: dict


def actual_values(session: Session, customer_id: int, goals: list) -> dict[int, tuple[float, str | None]]:
    """Each goal's saved amount from holdings: (amount, the package it is held in or None).
    Goals served by the same package share its holdings, and goals with none share the rest,
    each in proportion to their targets."""
    positions = positions_of(session, customer_id)
    cash = float(available_cash(session, [customer_id])[customer_id])
    by_package: dict[str, list] = defaultdict(list)
    products: dict[str, frozenset[str]] = {}
    for g in goals:
        package = goal_package(g.kind)
        if package is not None and any(p.symbol in package[1] for p in positions):
            by_package[package[0]].append(g)
            products[package[0]] = package[1]
    out: dict[int, tuple[float, str | None]] = {}
    for key, members in by_package.items():
        _share(out, members, sum(float(p.market_value) for p in positions if p.symbol in products[key]), key)
    claimed = set().union(*products.values()) if products else set()
    rest = cash + sum(float(p.market_value) for p in positions if p.symbol not in claimed)
    _share(out, [g for g in goals if g.id not in out], rest, None)
    return out


def _share(out: dict, goals: list, amount: float, package: str | None) -> None:
    weight = sum(float(g.target_amount) for g in goals)
    for g in goals:
        out[g.id] = (round(amount * float(g.target_amount) / weight, 2) if weight else 0.0, package)


def _years_left(target: date, day: date) -> float:
    return (target - day).days / 365.25


def _goal_finding(row, projection, actual: float, typed: float) -> Finding:
    bad = row.on_track is False
    advice = [a.message for a in projection.adjustments] if projection is not None else []
    body = (f"您的“{row.name}”目标按目前实际持仓（约{actual:,.0f}元）重新测算，达成可能性约为"
            f"{(row.probability or 0):.0%}，低于建议水平。可以考虑：" + "；".join(advice or ["与客户经理一起调整计划"]) + "。"
            "测算基于历史数据的模拟，不代表未来收益，市场有风险。")
    return Finding(f"goal:{row.id}", row.customer_id, "goal", bad, "目标进度提醒", body,
                   f"目标偏离：{row.name}（达成可能性{(row.probability or 0):.0%}）",
                   {"goal_id": row.id, "probability": row.probability, "actual": round(actual, 2),
                    "typed": round(typed, 2), "adjustments": advice})


def _reached_finding(row, actual: float) -> Finding:
    """A goal its holdings reach: told once (the goal is no longer active, so never judged again)."""
    body = (f"恭喜！按目前的实际持仓（约{actual:,.0f}元），您的“{row.name}”目标（{float(row.target_amount):,.0f}元）"
            "已经达成。接下来可以和客户经理一起决定：继续持有、把已取得的成果转入更稳健的配置，或者设定下一个目标。"
            "市场有波动，达成后的资产价值也会变化。")
    return Finding(f"goal_reached:{row.id}", row.customer_id, "goal_reached", True, "目标达成", body,
                   f"目标达成：{row.name}，请与客户沟通后续安排",
                   {"goal_id": row.id, "actual": round(actual, 2), "target": float(row.target_amount)})


def _package_finding(row, report) -> Finding:
    return Finding(f"package:{row.id}", row.customer_id, "package", report.drifted, "组合偏离提醒",
                   report.suggestion + "调整前请确认各产品的风险等级与费用，市场有风险。",
                   f"组合偏离：{row.name}（最大偏离{report.max_drift:.0%}）",
                   {"goal_id": row.id, "package": report.key, "max_drift": round(report.max_drift, 4),
                    "moves": report.moves})


def _review(session: Session, goal, actual: float, day: date, told: set[str], total: Watched):
    """Advisory's review of ``goal`` at ``actual``: today's stored one when advisory already
    re-projected it at this amount and no message needs its adjustments, else re-projected now."""
    same = reviewed_on(goal, day) and round(float(goal.current_value), 2) == round(actual, 2)
    if same and (goal.on_track or f"goal:{goal.id}" in told):
        total.reused += 1
        return goal, None
    with session.begin_nested():
        return review_goal(session, goal.id, current_value=actual, today=day)


def findings_for(session: Session, customer_id: int, goals: list, day: date, total: Watched) -> list[Finding]:
    """Each goal re-projected with its actual amount, and its package's drift; a goal advisory
    cannot review (no valid assessment, its date passed) is skipped and counted."""
    values = actual_values(session, customer_id, goals)
    told = set(session.scalars(select(Watch.key).where(Watch.customer_id == customer_id, Watch.kind == "goal",
                                                       Watch.bad.is_(True), Watch.notified.is_(True))))
    found: list[Finding] = []
    for g in goals:
        actual, package = values[g.id]
        typed = float(g.current_value)
        try:
            row, projection = _review(session, g, actual, day, told, total)
        except DomainError:
            total.skipped += 1
            continue
        found.append(_goal_finding(row, projection, actual, typed))
        if row.status == "achieved":
            found.append(_reached_finding(row, actual))
        if row.status != "active":  # reached: its package is no longer watched
            found.append(Finding(f"package:{row.id}", customer_id, "package", False, "", "", "", {"goal_id": row.id}))
        if package is None or row.status != "active":
            continue
        try:
            _plan, report = package_drift(session, customer_id, package, years_left=_years_left(row.target_date, day))
        except DomainError:
            total.skipped += 1
            continue
        found.append(_package_finding(row, report))
    return found


def _judge(session: Session, f: Finding, day: date) -> tuple[Watch, bool]:
    """Store the verdict; whether the customer and the manager are to be told now."""
    w = session.scalar(select(Watch).where(Watch.key == f.key))
    if w is None:
        w = Watch(key=f.key, customer_id=f.customer_id, kind=f.kind, bad=False, since=day, notified=False,
                  detail={}, checked_on=day)
        session.add(w)
    if f.bad and not w.bad:
        w.since, w.notified = day, False
    w.bad, w.detail, w.checked_on = f.bad, f.detail, day
    session.flush()
    return w, f.bad and not w.notified


def watch_goals(session: Session, day: date) -> Watched:
    """The night's watch over every active goal and its package (the caller commits)."""
    total = Watched()
    by_customer: dict[int, list] = defaultdict(list)
    for g in active_goals(session):
        by_customer[g.customer_id].append(g)
    managers = tiers_and_managers(session, sorted(by_customer)) if by_customer else {}
    due = datetime.combine(day + timedelta(days=TASK_DUE_DAYS), time(18, 0), tzinfo=SHANGHAI)
    for cid, goals in sorted(by_customer.items()):
        total.goals += len(goals)
        for f in findings_for(session, cid, goals, day, total):
            total.off_track += f.bad and f.kind == "goal"
            total.drifted += f.bad and f.kind == "package"
            total.reached += f.kind == "goal_reached"
            w, tell = _judge(session, f, day)
            if not tell:
                continue
            total.tasks += _task(session, f, w, managers.get(cid, ("", None))[1], due)
            ref = f"{f.key}:{w.since.isoformat()}"
            attempt = f"{f.key}:{day.isoformat()}"  # the cap answers per night: held back, asked again
            if (cid, attempt) not in contact.allow(session, [(cid, attempt)], kind=f"watch_{f.kind}", day=day):
                total.capped += 1
                continue
            enqueue_many(session, [NewMessage(channel="app", kind=f"engagement_{f.kind}_watch", subject=f.subject,
                                              body=f.body, customer_id=cid, origin="engagement", origin_ref=ref,
                                              idempotency_key=f"engagement:watch:{ref}")])
            w.notified = True
            total.notified += 1
    session.flush()
    return total


def _task(session: Session, f: Finding, w: Watch, manager_id: int | None, due: datetime) -> int:
    key = f"watch:{f.key}:{w.since.isoformat()}"
    if session.scalar(select(ManagerTask.id).where(ManagerTask.key == key)):
        return 0
    script = f"可以这样开场：{f.body}" if f.kind == "goal_reached" else f"建议调整：{f.body}"
    session.add(ManagerTask(key=key, customer_id=f.customer_id, manager_id=manager_id, kind=f"{f.kind}_watch",
                            title=f.task, script=script, state="open", due_at=due))
    session.flush()
    return 1

