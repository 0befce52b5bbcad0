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

from sqlalchemy import case, cast, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.security.models import User
from brokercare.service.models import Conversation, Message
from brokercare.service.tickets import DEPARTMENTS

STAFF_ROLES = ("agent", "advisor", "customer_manager", "team_lead")


def agent(session: Session, agent_id: int | None) -> User | None:
    """The staff member ``agent_id`` (``None`` for no id)."""
    return session.get(User, agent_id) if agent_id is not None else None


def skills_of(session: Session, agent_id: int) -> list[str]:
    found = agent(session, agent_id)
    return list(found.skills or []) if found is not None else []


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


def _with_skill(session: Session, skill: str | None) -> list[User]:
    """Active service staff with ``skill``, found by the database (a brokerage's service centre
    has hundreds of staff; a hand-off must not load them all to pick a few)."""
    if not skill:
        return []
    if session.get_bind().dialect.name == "postgresql":
        has_skill = cast(User.skills, JSONB).contains([skill])
    else:  # SQLite: the JSON array's elements as a table
        elements = func.json_each(User.skills).table_valued("value")
        has_skill = select(elements.c.value).where(elements.c.value == skill).exists()
    return list(session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(STAFF_ROLES), has_skill).order_by(User.id)))


def lock_agent(session: Session, agent_id: int) -> User | None:
    return session.scalar(select(User).where(User.id == agent_id).with_for_update())


def free_slots(session: Session, agent: User) -> int:
    return agent.max_concurrent - load_of(session, [agent.id])[agent.id]


def assign(session: Session, conv: Conversation, agent: User, now: datetime, how: str) -> None:
    conv.status = "assigned"
    conv.assigned_agent_id = agent.id
    conv.assigned_at = now
    session.add(Message(
        conversation_id=conv.id, contact_id=conv.contact_id, direction="out", sender="system",
        channel=conv.channel, text=f"已为您接入人工服务：{agent.display_name}",
        meta={"event": "assigned", "agent_id": agent.id, "how": how}, sent_at=now, created_at=now,
    ))
    session.flush()


def try_assign(session: Session, conv: Conversation, *, now: datetime | None = None) -> User | None:
    """Assign a conversation that needs a human; leave it waiting if nobody able is free."""
    now = now or utcnow()
    if conv.status == "assigned":
        return session.get(User, conv.assigned_agent_id)
    conv.status = "waiting"
    conv.waiting_since = conv.waiting_since or now
    if conv.preferred_agent_id:
        manager = session.get(User, conv.preferred_agent_id)
        if manager is not None and manager.active and manager.role in STAFF_ROLES:
            locked = lock_agent(session, manager.id)
            if locked is not None and free_slots(session, locked) > 0:
                assign(session, conv, locked, now, "dedicated_manager")
                return locked
    able = _with_skill(session, conv.skill)
    loads = load_of(session, [u.id for u in able])
    # Team leads take chats only when their agents are full: they have the escalations to handle.
    ranked = sorted(able, key=lambda u: (u.role == "team_lead", loads[u.id] / max(u.max_concurrent, 1),
                                         loads[u.id], u.id))
    for agent in ranked:
        if loads[agent.id] >= agent.max_concurrent:
            continue
        locked = lock_agent(session, agent.id)
        if locked is not None and free_slots(session, locked) > 0:
            assign(session, conv, locked, now, "least_loaded")
            return locked
    session.flush()
    return None


def fill_free_slots(session: Session, agent_id: int, *, now: datetime | None = None) -> list[Conversation]:
    """Hand ``agent_id`` waiting conversations until their slots are full; returns those taken."""
    now = now or utcnow()
    agent = lock_agent(session, agent_id)
    if agent is None or not agent.active or agent.role not in STAFF_ROLES:
        return []
    taken: list[Conversation] = []
    skills = list(agent.skills or [])
    while free_slots(session, agent) > 0:
        conds = [Conversation.preferred_agent_id == agent.id]
        if skills:
            conds.append(Conversation.skill.in_(skills))
        stmt = (
            select(Conversation)
            .where(Conversation.status == "waiting", or_(*conds))
            .order_by(
                case((Conversation.preferred_agent_id == agent.id, 0), else_=1),
                Conversation.priority, Conversation.waiting_since, Conversation.id,
            )
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        conv = session.scalar(stmt)
        if conv is None:
            break
        assign(session, conv, agent, now,
                "dedicated_manager" if conv.preferred_agent_id == agent.id else "slot_freed")
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
    agent = lock_agent(session, agent_id)
    if agent is None or agent.role not in STAFF_ROLES:
        raise NotFound(f"service agent {agent_id} does not exist")
    agent.max_concurrent = max_concurrent
    if active is not None:
        agent.active = active
    session.flush()
    return fill_free_slots(session, agent_id, now=now) if agent.active else []


def transfer(session: Session, conv: Conversation, *, skill: str, by_agent_id: int,
             now: datetime | None = None) -> User | None:
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
