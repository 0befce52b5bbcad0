"""SLA clocks on the trading-day calendar, and the job that warns before and escalates on breach.

Each ticket gets a first-response clock and (for emergency and urgent tickets) a resolution clock;
each feedback entry gets an answer clock. ``sla-check`` is idempotent: a clock is warned once and
breached once however often (or however concurrently) the job runs, because each step is a
conditional UPDATE that only one run can win, and every notification has a unique dedupe key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from brokercare.core.calendar import add_working_hours
from brokercare.core.database import utcnow
from brokercare.security.service import list_users
from brokercare.service import agents
from brokercare.service.models import SlaClock, StaffNotice, Ticket, TicketEvent

PRIORITIES = ("emergency", "urgent", "general")


@lru_cache
def sla_policy() -> dict:
    text = resources.files("brokercare.service").joinpath("data/sla_policy.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def deadline(start: datetime, target: dict) -> datetime:
    if "minutes" in target:
        return start + timedelta(minutes=target["minutes"])
    if "hours" in target:
        return start + timedelta(hours=target["hours"])
    if "working_days" in target:
        return add_working_hours(start, 8 * target["working_days"])
    raise ValueError(f"SLA target needs minutes, hours or working_days: {target}")


def ticket_priority(intent: str, tier: str, emergency: bool) -> str:
    if emergency and tier in ("vip", "potential"):
        return "emergency"
    if emergency or intent in sla_policy()["urgent_intents"]:
        return "urgent"
    return "general"


def start_clocks(session: Session, subject_kind: str, subject_id: int, policy: str,
                 start: datetime) -> list[SlaClock]:
    """Create the clocks of ``policy`` (a ticket priority, or ``feedback``) for one subject; they
    are written with the caller's next flush (a ticket's creation flushes once, after its ledger entry)."""
    cfg = sla_policy()
    targets = cfg["feedback"] if policy == "feedback" else cfg["priorities"][policy]
    frac = float(cfg.get("warn_fraction", 0.75))
    clocks = []
    for metric, target in targets.items():
        due = deadline(start, target)
        clock = SlaClock(
            subject_kind=subject_kind, subject_id=subject_id, metric=metric, policy=policy,
            started_at=start, due_at=due, warn_at=start + (due - start) * frac,
        )
        session.add(clock)
        clocks.append(clock)
    return clocks


def clocks_of(session: Session, subject_kind: str, subject_id: int) -> list[SlaClock]:
    return list(session.scalars(
        select(SlaClock).where(SlaClock.subject_kind == subject_kind, SlaClock.subject_id == subject_id)
        .order_by(SlaClock.id)
    ))


def meet(session: Session, subject_kind: str, subject_id: int, metric: str, at: datetime) -> None:
    session.execute(
        update(SlaClock)
        .where(SlaClock.subject_kind == subject_kind, SlaClock.subject_id == subject_id,
               SlaClock.metric == metric, SlaClock.met_at.is_(None))
        .values(met_at=at)
    )


def pause(session: Session, subject_kind: str, subject_id: int, at: datetime) -> None:
    """Stop the clocks while the ball is in the customer's court (waiting on customer)."""
    session.execute(
        update(SlaClock)
        .where(SlaClock.subject_kind == subject_kind, SlaClock.subject_id == subject_id,
               SlaClock.met_at.is_(None), SlaClock.paused_at.is_(None),
               SlaClock.breached_at.is_(None))
        .values(paused_at=at)
    )


def resume(session: Session, subject_kind: str, subject_id: int, at: datetime) -> None:
    for clock in session.scalars(
        select(SlaClock).where(SlaClock.subject_kind == subject_kind,
                               SlaClock.subject_id == subject_id, SlaClock.paused_at.is_not(None))
    ):
        held = at - clock.paused_at
        clock.due_at += held
        clock.warn_at += held
        clock.paused_at = None
    session.flush()


def restart(session: Session, subject_kind: str, subject_id: int, metric: str, at: datetime) -> None:
    """A reopened ticket gets a fresh resolution clock of the same policy."""
    clock = session.scalar(select(SlaClock).where(
        SlaClock.subject_kind == subject_kind, SlaClock.subject_id == subject_id,
        SlaClock.metric == metric))
    if clock is None:
        return
    target = (sla_policy()["feedback"] if clock.policy == "feedback"
              else sla_policy()["priorities"][clock.policy]).get(metric)
    if target is None:
        return
    due = deadline(at, target)
    frac = float(sla_policy().get("warn_fraction", 0.75))
    clock.started_at, clock.due_at, clock.warn_at = at, due, at + (due - at) * frac
    clock.met_at = clock.paused_at = clock.warned_at = clock.breached_at = None
    clock.escalated_to_id = None
    session.flush()


# --- the job --------------------------------------------------------------------------------------

@dataclass
class SlaCheckResult:
    warned: int = 0
    breached: int = 0
    escalated: int = 0
    notices: list[str] = field(default_factory=list)


_METRIC_ZH = {"first_response": "首次响应", "resolution": "解决", "answer": "答复"}


def _owner_and_lead(session: Session, subject_kind: str, subject_id: int) -> tuple[int | None, int | None, str]:
    """Who owns the subject, their team lead, and a label for notices."""
    if subject_kind == "ticket":
        ticket = session.get(Ticket, subject_id)
        if ticket is None:
            return None, None, f"ticket {subject_id}"
        owner = agents.profile(session, ticket.assignee_id) if ticket.assignee_id else None
        lead = owner.team_lead_id if owner and owner.team_lead_id else _any_team_lead(session, ticket.department)
        return (ticket.assignee_id if owner else None), lead, f"工单 {ticket.ticket_no}（{ticket.subject}）"
    if subject_kind == "feedback":
        from brokercare.service.models import Feedback

        fb = session.get(Feedback, subject_id)
        return None, _any_team_lead(session, "complaints"), f"客户意见 #{subject_id}" + (
            f"（{fb.text[:20]}）" if fb else "")
    return None, _any_team_lead(session, None), f"{subject_kind} {subject_id}"


def _any_team_lead(session: Session, skill: str | None) -> int | None:
    leads = sorted(u.id for u in list_users(session, role="team_lead"))
    profiles = agents.profiles(session, leads)
    for lead in leads:
        if skill and skill in (profiles[lead].skills or []):
            return lead
    return leads[0] if leads else None


def run_sla_check(session: Session, now: datetime | None = None) -> SlaCheckResult:
    """Warn owners of clocks past their warning point; mark breaches and escalate them."""
    now = now or utcnow()
    result = SlaCheckResult()
    due = session.scalars(
        select(SlaClock).where(SlaClock.met_at.is_(None), SlaClock.paused_at.is_(None),
                               SlaClock.breached_at.is_(None), SlaClock.warn_at <= now)
        .order_by(SlaClock.due_at)
    ).all()
    for clock in due:
        owner, lead, label = _owner_and_lead(session, clock.subject_kind, clock.subject_id)
        metric = _METRIC_ZH.get(clock.metric, clock.metric)
        due_local = clock.due_at.astimezone(_shanghai()).strftime("%m-%d %H:%M")
        if clock.due_at <= now:
            won = session.execute(
                update(SlaClock).where(SlaClock.id == clock.id, SlaClock.breached_at.is_(None))
                .values(breached_at=now, escalated_to_id=lead,
                        warned_at=clock.warned_at or now)
            ).rowcount
            if not won:
                continue
            result.breached += 1
            text = f"SLA 超时：{label}的{metric}时限 {due_local} 已过，已升级给组长处理。"
            if clock.subject_kind == "ticket":
                session.add(TicketEvent(ticket_id=clock.subject_id, kind="sla_breach",
                                        note=f"{clock.metric} due {clock.due_at.isoformat()} breached",
                                        created_at=now))
                if lead:
                    session.add(TicketEvent(ticket_id=clock.subject_id, kind="escalated",
                                            actor_id=None, note=f"escalated to team lead {lead}",
                                            created_at=now))
                from brokercare.service.audit import ledger_append

                ledger_append(session, "ticket.sla_breached", f"ticket:{clock.subject_id}",
                              {"metric": clock.metric, "policy": clock.policy,
                               "due_at": clock.due_at.isoformat(), "escalated_to": lead})
            for user_id in {u for u in (lead, owner) if u}:
                _notice(session, user_id, "sla_breach", f"sla_breach:{clock.id}:{user_id}", text, now)
            if lead:
                result.escalated += 1
            result.notices.append(text)
        else:
            won = session.execute(
                update(SlaClock).where(SlaClock.id == clock.id, SlaClock.warned_at.is_(None))
                .values(warned_at=now)
            ).rowcount
            if not won:
                continue
            result.warned += 1
            text = f"SLA 预警：{label}的{metric}时限为 {due_local}，请尽快处理。"
            if clock.subject_kind == "ticket":
                session.add(TicketEvent(ticket_id=clock.subject_id, kind="sla_warning",
                                        note=f"{clock.metric} due {clock.due_at.isoformat()}",
                                        created_at=now))
            recipient = owner or lead
            if recipient:
                _notice(session, recipient, "sla_warning", f"sla_warning:{clock.id}", text, now)
            result.notices.append(text)
    session.flush()
    return result


def _notice(session: Session, user_id: int, kind: str, key: str, text: str, now: datetime) -> None:
    exists = session.scalar(select(StaffNotice.id).where(StaffNotice.dedupe_key == key))
    if exists is None:
        session.add(StaffNotice(user_id=user_id, kind=kind, body=text, dedupe_key=key, created_at=now))


def _shanghai():
    from brokercare.core.calendar import SHANGHAI

    return SHANGHAI
