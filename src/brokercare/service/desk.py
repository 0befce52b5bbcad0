"""The service desk's people: who is at the desk (a heartbeat of their workbench), what the team
lead sees of the team, chats waiting past their target, and handing a chat from one agent to
another (a request to the agent who has it, and the hand-over itself).

Presence is written off the message path: a heartbeat is its own short transaction at most every
30 s per agent, and the router reads presence inside the query that already picks agents by skill.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from brokercare.core.database import session_factory, utcnow, write_gate
from brokercare.core.errors import Conflict, PermissionDenied
from brokercare.security.policy import Principal
from brokercare.security.service import users_by_id
from brokercare.service import agents, queues, sla
from brokercare.service.models import AgentProfile, Conversation, StaffNotice

_heartbeats: dict[int, datetime] = {}  # this process's last heartbeat written per member of staff
SUPERVISORS = ("team_lead", "admin")


def heartbeat(user: Principal, *, now: datetime | None = None) -> None:
    """A request of ``user``'s workbench: their presence, written in its own short transaction at
    most every :data:`agents.HEARTBEAT_EVERY` (pages poll every few seconds; a poll is not a write).
    Coming back from away, they are handed waiting chats at once."""
    if user.role not in queues.STAFF_ROLES:
        return
    now = now or utcnow()
    last = _heartbeats.get(user.id)
    if last is not None and now - last < agents.HEARTBEAT_EVERY:
        return
    session = session_factory()()
    try:
        with write_gate(session):  # committed inside the gate, as the message path does
            queues.arrived(session, user.id, now=now)
            session.commit()
        _heartbeats[user.id] = now
    finally:
        session.close()


def logged_out(session: Session, user_id: int) -> None:
    """The member of staff logged out: away at once (no new chats until they are back)."""
    _heartbeats.pop(user_id, None)
    agents.went_away(session, user_id)


def team_presence(session: Session, lead: Principal, *, now: datetime | None = None) -> list[dict]:
    """The team lead's team (the staff whose profile names them, and themselves; for an admin
    every agent and team lead): presence, load and slots, skills, present first."""
    stmt = select(AgentProfile)
    if lead.role == "team_lead":
        stmt = stmt.where(or_(AgentProfile.team_lead_id == lead.id, AgentProfile.user_id == lead.id))
    rows = session.scalars(stmt).all()
    staff = users_by_id(session, [r.user_id for r in rows])
    roles = queues.STAFF_ROLES if lead.role == "team_lead" else ("agent", "team_lead")
    routable = [r for r in rows if r.user_id in staff and staff[r.user_id].active
                and staff[r.user_id].role in roles]
    loads = queues.load_of(session, [r.user_id for r in routable])
    out = [{"user": staff[r.user_id], "profile": r, "load": loads[r.user_id],
            "presence": agents.presence(r, loads[r.user_id], now)} for r in routable]
    order = {"online": 0, "busy": 1, "away": 2}
    return sorted(out, key=lambda x: (order[x["presence"]], x["user"].id))


def my_presence(session: Session, user: Principal, *, now: datetime | None = None) -> str:
    """``online``, ``busy`` or ``away`` of the member of staff themselves."""
    row = agents.profile(session, user.id)
    return agents.presence(row, queues.load_of(session, [user.id])[user.id], now)


def pause_chats(session: Session, user: Principal, *, paused: bool,
                now: datetime | None = None) -> list[Conversation]:
    """The agent stops taking new chats (busy; the ones they have stay theirs) or takes them again
    (waiting chats are handed to them at once)."""
    queues.lock_agent(session, user.id)
    agents.set_profile(session, user.id, present=not paused)
    return [] if paused else queues.fill_free_slots(session, user.id, now=now)


# --- chats waiting past their target ------------------------------------------------------------

def wait_target(priority: int) -> timedelta:
    """How long a chat of ``priority`` may wait for a person (``chat_wait`` of the SLA policy)."""
    rows = sla.sla_policy().get("chat_wait") or []
    for row in rows:
        if priority <= int(row["priority_max"]):
            return timedelta(minutes=float(row["minutes"]))
    return timedelta(minutes=float(rows[-1]["minutes"])) if rows else timedelta(minutes=5)


def overdue(conv: Conversation, now: datetime) -> bool:
    return conv.status == "waiting" and conv.waiting_since is not None and \
        now - conv.waiting_since > wait_target(conv.priority)


def offered_to(session: Session, conv: Conversation, user: Principal, now: datetime) -> bool:
    """Whether ``user`` may take ``conv`` beyond their chat slots: it waited past its target and
    they are service staff with its skill (or a team lead, who sees every late chat)."""
    if not overdue(conv, now) or user.role not in queues.STAFF_ROLES:
        return False
    return user.role == "team_lead" or conv.skill in (agents.profile(session, user.id).skills or [])


# --- whose conversation it is -------------------------------------------------------------------

def _handover_key(conv_id: int, requester_id: int) -> str:
    return f"handover:{conv_id}:{requester_id}"


def request_handover(session: Session, conv: Conversation, user: Principal, *,
                     now: datetime | None = None) -> Principal:
    """``user`` asks the agent who has ``conv`` to hand it over; the agent (and their team lead)
    gets a notice on the workbench. Returns the agent asked."""
    now = now or utcnow()
    if conv.status != "assigned" or conv.assigned_agent_id is None:
        raise Conflict("这个会话没有坐席接待，可以直接接入。(the conversation is not assigned)")
    if conv.assigned_agent_id == user.id:
        raise Conflict("这个会话已经由您接待。(the conversation is already yours)")
    owner = queues.agent(session, conv.assigned_agent_id)
    text = f"{user.display_name} 请求接手会话 #{conv.id}，请在会话页面确认转交。"
    key = _handover_key(conv.id, user.id)
    if session.scalar(select(StaffNotice.id).where(StaffNotice.dedupe_key == key,
                                                   StaffNotice.read_at.is_(None))) is None:
        old = session.scalar(select(StaffNotice).where(StaffNotice.dedupe_key == key))
        if old is not None:  # asked before and read: ask again
            old.read_at, old.created_at, old.body = None, now, text
        else:
            session.add(StaffNotice(user_id=owner.id, kind="handover_request", body=text,
                                    dedupe_key=key, created_at=now))
    session.flush()
    return owner


def handover_requests(session: Session, conv: Conversation) -> list[Principal]:
    """Who asked to take ``conv`` over from the agent who has it (requests not yet answered)."""
    keys = session.scalars(select(StaffNotice.dedupe_key).where(
        StaffNotice.dedupe_key.like(f"handover:{conv.id}:%"), StaffNotice.read_at.is_(None))).all()
    ids = [int(k.rsplit(":", 1)[1]) for k in keys]
    found = users_by_id(session, ids)
    return [found[i] for i in ids if i in found]


def hand_over(session: Session, conv: Conversation, user: Principal, to_user_id: int, *,
              now: datetime | None = None) -> Principal:
    """The agent who has ``conv`` (or a team lead) gives it to ``to_user_id``; the customer is told
    who serves them now and the giver's freed slot is refilled from the queue."""
    now = now or utcnow()
    if conv.status != "assigned":
        raise Conflict("只有人工服务中的会话才能转交。(only an assigned conversation can be handed over)")
    if conv.assigned_agent_id != user.id and user.role not in SUPERVISORS:
        raise PermissionDenied("只有接待这个会话的坐席或组长可以转交。(only the agent holding it or a team lead)")
    taker = queues.agent(session, to_user_id)
    if taker is None or not taker.active or taker.role not in queues.STAFF_ROLES:
        raise Conflict("接手人不是可接待会话的客服人员。(the receiver is not service staff)")
    giver_id = conv.assigned_agent_id
    queues.assign(session, conv, taker, now, "handed_over")
    for notice in session.scalars(select(StaffNotice).where(
            StaffNotice.dedupe_key.like(f"handover:{conv.id}:%"), StaffNotice.read_at.is_(None))):
        notice.read_at = now
    session.flush()
    if giver_id is not None and giver_id != taker.id:
        queues.fill_free_slots(session, giver_id, now=now)
    return taker
