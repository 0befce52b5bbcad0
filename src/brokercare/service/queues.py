"""Human queues: assigning conversations to staff by skill, dedicated manager first, then load.

Invariant kept by every function here: no conversation waits while an agent able to take it has
a free slot. A hand-off tries to assign at once; whenever a slot frees (a conversation closes or
is transferred, an agent gets more slots or comes back), :func:`fill_free_slots` hands that agent
the waiting conversations at once — their own customers first, then by priority and waiting time.
On PostgreSQL the agent's row is locked while their slots are counted and waiting conversations
are taken with ``SKIP LOCKED``, so two API processes never overfill an agent or double-assign.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.security.policy import Principal
from brokercare.security.service import users_by_id
from brokercare.service import agents
from brokercare.service.models import AgentProfile, Conversation, Message
from brokercare.service.tickets import DEPARTMENTS

STAFF_ROLES = ("agent", "advisor", "customer_manager", "team_lead")


def agent(session: Session, agent_id: int | None) -> Principal | None:
    """The member of staff ``agent_id`` (``None`` for no id or an unknown one)."""
    if agent_id is None:
        return None
    return users_by_id(session, [agent_id]).get(agent_id)


def skills_of(session: Session, agent_id: int) -> list[str]:
    return list(agents.profile(session, agent_id).skills or [])


def load_of(session: Session, agent_ids: list[int]) -> dict[int, int]:
    if not agent_ids:
        return {}
    rows = session.execute(
        select(Conversation.assigned_agent_id, func.count(Conversation.id))
        .where(Conversation.status == "assigned", Conversation.assigned_agent_id.in_(agent_ids))
        .group_by(Conversation.assigned_agent_id)
    ).all()
    out = dict.fromkeys(agent_ids, 0)
    out.update({a: n for a, n in rows})
    return out


def _routable(user: Principal | None) -> bool:
    return user is not None and user.active and user.role in STAFF_ROLES


def _with_skill(session: Session, skill: str | None) -> list[Principal]:
    """Active, present service staff with ``skill``, by id."""
    return sorted(_able(session, skill), key=lambda u: u.id)


def _able(session: Session, skill: str | None, *, lock: bool = False) -> dict[Principal, AgentProfile]:
    """Active, present service staff with ``skill`` and their profiles (``lock``: the profile rows
    locked, so the loads counted next hold until the transaction ends)."""
    profiles = agents.with_skill(session, skill, lock=lock)
    staff = users_by_id(session, profiles)
    return {u: profiles[u.id] for u in staff.values() if _routable(u)}


def anyone_present(session: Session, skill: str | None) -> bool:
    """Whether any active member of service staff with ``skill`` is at the desk now."""
    return bool(_able(session, skill))


def lock_agent(session: Session, agent_id: int) -> AgentProfile:
    """The agent's profile, locked while their slots are counted."""
    return agents.lock(session, agent_id)


def free_slots(session: Session, profile: AgentProfile) -> int:
    return profile.max_concurrent - load_of(session, [profile.user_id])[profile.user_id]


def assign(session: Session, conv: Conversation, agent: Principal, now: datetime, how: str) -> None:
    conv.status = "assigned"
    conv.assigned_agent_id = agent.id
    conv.assigned_at = now
    session.add(Message(
        conversation_id=conv.id, contact_id=conv.contact_id, direction="out", sender="system",
        channel=conv.channel, text=f"已为您接入人工服务：{agent.display_name}",
        meta={"event": "assigned", "agent_id": agent.id, "how": how}, sent_at=now, created_at=now,
    ))
    session.flush()


def _take(session: Session, conv: Conversation, agent: Principal, now: datetime, how: str) -> bool:
    """Assign ``conv`` to ``agent`` if a slot is free under the lock of their profile."""
    locked = lock_agent(session, agent.id)
    if locked is None or not locked.present or not agents.is_here(locked) or free_slots(session, locked) <= 0:
        return False
    assign(session, conv, agent, now, how)
    return True


def try_assign(session: Session, conv: Conversation, *, now: datetime | None = None) -> Principal | None:
    """Assign a conversation that needs a human; leave it waiting if nobody able is free."""
    now = now or utcnow()
    if conv.status == "assigned":
        return agent(session, conv.assigned_agent_id)
    conv.status = "waiting"
    conv.waiting_since = conv.waiting_since or now
    if conv.preferred_agent_id:
        manager = agent(session, conv.preferred_agent_id)
        if _routable(manager) and _take(session, conv, manager, now, "dedicated_manager"):
            return manager
    # Every candidate's row locked at once and their loads counted once under the locks: the same
    # guarantee as locking and re-counting one candidate at a time, in two statements.
    able = _able(session, conv.skill, lock=True)
    loads = load_of(session, [u.id for u in able])
    slots = {u.id: p.max_concurrent for u, p in able.items()}
    # Team leads take chats only when their agents are full: they have the escalations to handle.
    ranked = sorted(able, key=lambda u: (u.role == "team_lead", loads[u.id] / max(slots[u.id], 1),
                                         loads[u.id], u.id))
    for candidate in ranked:
        if loads[candidate.id] < slots[candidate.id]:
            assign(session, conv, candidate, now, "least_loaded")
            return candidate
    session.flush()
    return None


def fill_free_slots(session: Session, agent_id: int, *, now: datetime | None = None) -> list[Conversation]:
    """Hand ``agent_id`` waiting conversations until their slots are full; returns those taken."""
    now = now or utcnow()
    user = agent(session, agent_id)
    if not _routable(user):
        return []
    profile = lock_agent(session, agent_id)
    if not profile.present or not agents.is_here(profile):
        return []
    taken: list[Conversation] = []
    skills = list(profile.skills or [])
    while free_slots(session, profile) > 0:
        conds = [Conversation.preferred_agent_id == agent_id]
        if skills:
            conds.append(Conversation.skill.in_(skills))
        stmt = (
            select(Conversation)
            .where(Conversation.status == "waiting", or_(*conds))
            .order_by(
                case((Conversation.preferred_agent_id == agent_id, 0), else_=1),
                Conversation.priority, Conversation.waiting_since, Conversation.id,
            )
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        conv = session.scalar(stmt)
        if conv is None:
            break
        assign(session, conv, user, now,
               "dedicated_manager" if conv.preferred_agent_id == agent_id else "slot_freed")
        taken.append(conv)
    return taken


def waiting_queue(session: Session, skill: str | None = None) -> list[Conversation]:
    stmt = select(Conversation).where(Conversation.status == "waiting")
    if skill:
        stmt = stmt.where(Conversation.skill == skill)
    return list(session.scalars(stmt.order_by(Conversation.priority, Conversation.waiting_since)))


def set_capacity(session: Session, agent_id: int, max_concurrent: int, *, active: bool | None = None,
                 now: datetime | None = None) -> list[Conversation]:
    """Change an agent's slots (or availability); new room is filled from the queue at once."""
    if not 0 <= max_concurrent <= 50:
        raise ValidationFailed("max_concurrent must be between 0 and 50")
    user = agent(session, agent_id)
    if user is None or user.role not in STAFF_ROLES:
        raise NotFound(f"service agent {agent_id} does not exist")
    lock_agent(session, agent_id)
    profile = agents.set_profile(session, agent_id, max_concurrent=max_concurrent, present=active)
    return fill_free_slots(session, agent_id, now=now) if profile.present else []


def arrived(session: Session, agent_id: int, *, now: datetime | None = None) -> list[Conversation]:
    """A heartbeat of the agent's workbench; coming back from away, they get waiting chats."""
    if agents.seen(session, agent_id):
        return fill_free_slots(session, agent_id, now=now)
    return []


def transfer(session: Session, conv: Conversation, *, skill: str, by_agent_id: int,
             now: datetime | None = None) -> Principal | None:
    """Move an assigned conversation to another skill queue; the freed slot is refilled."""
    now = now or utcnow()
    if skill not in DEPARTMENTS:
        raise ValidationFailed(f"unknown skill {skill!r}; skills are {', '.join(DEPARTMENTS)}")
    if conv.status != "assigned" or conv.assigned_agent_id != by_agent_id:
        raise Conflict("only the agent holding a conversation can transfer it")
    conv.status, conv.assigned_agent_id, conv.assigned_at = "waiting", None, None
    conv.skill, conv.waiting_since, conv.preferred_agent_id = skill, now, None
    session.flush()
    taker = try_assign(session, conv, now=now)
    fill_free_slots(session, by_agent_id, now=now)
    return taker
