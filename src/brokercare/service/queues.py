"""Human queues: assigning conversations to staff by skill, dedicated manager first, then load.

Invariant kept by every function here: no conversation waits while an agent able to take it has
a free slot. A hand-off tries to assign at once; whenever a slot frees (a conversation closes or
is transferred, an agent gets more slots or comes back), :func:`fill_free_slots` hands that agent
the waiting conversations at once — their own customers first, then by priority and waiting time.
On PostgreSQL the agent's row is locked while their slots are counted and waiting conversations
are taken with ``SKIP LOCKED``, so two API processes never overfill an agent or double-assign.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
_HAND_OFF_BATCH = "service.hand_off_batch"


@dataclass
class _Desk:
    """A batch's view of the staff it may assign to: their profile rows locked once, their loads
    counted once under the locks and then kept as the batch assigns (no other transaction can
    assign to a locked agent, and a chat closing elsewhere only frees room)."""

    profiles: dict[int, AgentProfile] = field(default_factory=dict)
    staff: dict[int, Principal] = field(default_factory=dict)  # their logins, held (the session's map is weak)
    loads: dict[int, int] = field(default_factory=dict)
    skills: set[str] = field(default_factory=set)

    def lock_skills(self, session: Session, skills: Iterable[str]) -> None:
        """Lock and count the present staff with any of ``skills`` not taken in yet (one read each)."""
        wanted = {s for s in skills if s} - self.skills
        if not wanted:
            return
        self.skills |= wanted
        self.take_in(session, agents.with_any_skill(session, wanted, lock=True))

    def take_in(self, session: Session, profiles: dict[int, AgentProfile]) -> None:
        new = {i: p for i, p in profiles.items() if i not in self.loads}
        self.profiles.update(new)
        self.staff.update(users_by_id(session, new))
        self.loads.update(load_of(session, list(new)))


@contextmanager
def hand_off_batch(session: Session, skills: Iterable[str] = ()) -> Iterator[None]:
    """Hand-offs inside the block share one lock-and-count of the staff with ``skills`` (more are
    taken in as needed) instead of two reads each, and leave their rows to the caller's flush —
    a batch of routed messages holds the write gate while it runs, so every read counts."""
    desk = _Desk()
    session.info[_HAND_OFF_BATCH] = desk
    try:
        desk.lock_skills(session, skills)
        yield
    finally:
        session.info.pop(_HAND_OFF_BATCH, None)


def _batch_desk(session: Session) -> _Desk | None:
    return session.info.get(_HAND_OFF_BATCH)


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
    locked, so the loads counted next hold until the transaction ends; inside
    :func:`hand_off_batch` they are the batch's, locked already)."""
    if (desk := _batch_desk(session)) is not None and skill:
        desk.lock_skills(session, [skill])
        profiles = {i: p for i, p in desk.profiles.items() if skill in (p.skills or [])}
    else:
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
    if (desk := _batch_desk(session)) is not None:
        desk.take_in(session, {profile.user_id: profile})
        return profile.max_concurrent - desk.loads[profile.user_id]
    return profile.max_concurrent - load_of(session, [profile.user_id])[profile.user_id]


def _loads(session: Session, agent_ids: list[int]) -> dict[int, int]:
    """Open chats per agent: counted now, or as the batch has kept them (:func:`hand_off_batch`)."""
    if (desk := _batch_desk(session)) is not None:
        return {i: desk.loads[i] for i in agent_ids}
    return load_of(session, agent_ids)


def assign(session: Session, conv: Conversation, agent: Principal, now: datetime, how: str) -> None:
    conv.status = "assigned"
    conv.assigned_agent_id = agent.id
    conv.assigned_at = now
    session.add(Message(
        conversation_id=conv.id, contact_id=conv.contact_id, direction="out", sender="system",
        channel=conv.channel, text=f"已为您接入人工服务：{agent.display_name}",
        meta={"event": "assigned", "agent_id": agent.id, "how": how}, sent_at=now, created_at=now,
    ))
    if (desk := _batch_desk(session)) is not None:
        if agent.id in desk.loads:
            desk.loads[agent.id] += 1
        return
    session.flush()


def _take(session: Session, conv: Conversation, agent: Principal, now: datetime, how: str) -> bool:
    """Assign ``conv`` to ``agent`` if a slot is free under the lock of their profile."""
    desk = _batch_desk(session)
    locked = desk.profiles[agent.id] if desk is not None and agent.id in desk.profiles else \
        lock_agent(session, agent.id)
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
    loads = _loads(session, [u.id for u in able])
    slots = {u.id: p.max_concurrent for u, p in able.items()}
    # Team leads take chats only when their agents are full: they have the escalations to handle.
    ranked = sorted(able, key=lambda u: (u.role == "team_lead", loads[u.id] / max(slots[u.id], 1),
                                         loads[u.id], u.id))
    for candidate in ranked:
        if loads[candidate.id] < slots[candidate.id]:
            assign(session, conv, candidate, now, "least_loaded")
            return candidate
    if _batch_desk(session) is None:
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
