"""Agent profiles: how the hub routes to a member of staff (skills, chat slots, team lead,
presence), kept in the hub's own ``agent_profiles`` table beside the security domain's login.

A login without a profile routes as one with the defaults: no skills, five slots, taking chats.

Presence is derived, not declared: *away* unless the agent's workbench made a request within
:data:`PRESENCE_TTL` (its pages poll every few seconds; :func:`seen` writes the heartbeat at most
every :data:`HEARTBEAT_EVERY`) and they did not log out; *busy* when present but every chat slot
is taken or they paused taking chats; *online* otherwise. Only present agents get assignments.
Presence is a wall-clock fact (a real browser's heartbeat), so it is read against the real time
even when a test pins the business clock of a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import cast, func, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brokercare.core.database import get_many, utcnow
from brokercare.core.errors import ValidationFailed
from brokercare.service.models import AgentProfile

DEFAULT_SLOTS = 5
#: Without a heartbeat for this long an agent is away (their pages poll every 2-3 s).
PRESENCE_TTL = timedelta(seconds=120)
#: A heartbeat is written at most this often per agent (a page poll is not a write each time).
HEARTBEAT_EVERY = timedelta(seconds=30)
PRESENCE_ZH = {"online": "在线", "busy": "忙碌", "away": "离开"}


def _default(user_id: int) -> AgentProfile:
    return AgentProfile(user_id=user_id, skills=[], max_concurrent=DEFAULT_SLOTS, team_lead_id=None, present=True)


def profile(session: Session, user_id: int) -> AgentProfile:
    """The profile of ``user_id`` (the defaults, unsaved, if it has none)."""
    return session.get(AgentProfile, user_id) or _default(user_id)


def profiles(session: Session, user_ids: Iterable[int]) -> dict[int, AgentProfile]:
    """Profiles of many staff in one read (the defaults for those without one)."""
    ids = set(user_ids)
    found = get_many(session, AgentProfile, ids)
    return {i: found.get(i) or _default(i) for i in ids}


def team_of(session: Session, lead_id: int) -> list[int]:
    """The staff whose profile names ``lead_id`` as their team lead."""
    return list(session.scalars(select(AgentProfile.user_id).where(AgentProfile.team_lead_id == lead_id)
                                .order_by(AgentProfile.user_id)))


def set_profile(session: Session, user_id: int, *, skills: list[str] | None = None,
                max_concurrent: int | None = None, team_lead_id: int | None = None,
                present: bool | None = None) -> AgentProfile:
    """Create or change a member of staff's profile (only the fields given); flushed."""
    if max_concurrent is not None and not 0 <= max_concurrent <= 50:
        raise ValidationFailed("max_concurrent must be between 0 and 50")
    row = session.get(AgentProfile, user_id)
    if row is None:
        row = _default(user_id)
        session.add(row)
    if skills is not None:
        row.skills = [s.strip() for s in skills if s and s.strip()]
    if max_concurrent is not None:
        row.max_concurrent = max_concurrent
    if team_lead_id is not None:
        row.team_lead_id = team_lead_id
    if present is not None:
        row.present = present
    session.flush()
    return row


def set_profiles_many(session: Session, user_ids: list[int], *, skills: list[str],
                      max_concurrent: int = DEFAULT_SLOTS) -> None:
    """The same profile for many new staff at once (the demo brokerage's managers)."""
    session.add_all([AgentProfile(user_id=i, skills=list(skills), max_concurrent=max_concurrent,
                                  team_lead_id=None, present=True) for i in user_ids])
    session.flush()


def with_skill(session: Session, skill: str | None, *, lock: bool = False) -> dict[int, AgentProfile]:
    """Profiles of present staff with ``skill`` by user id, found by the database (a service
    centre has hundreds of staff; a hand-off must not load them all to pick a few); ``lock``: the
    rows locked for the transaction, as :func:`lock` does one, so their slots can be counted once."""
    return with_any_skill(session, [skill] if skill else [], lock=lock)


def with_any_skill(session: Session, skills: Iterable[str], *, lock: bool = False) -> dict[int, AgentProfile]:
    """:func:`with_skill` for several skills in one read: present staff with any of ``skills``
    (a batch of hand-offs locks everyone it may assign to at once)."""
    skills = sorted(set(skills))
    if not skills:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        has_skill = or_(*[cast(AgentProfile.skills, JSONB).contains([s]) for s in skills])
    else:  # SQLite: the JSON array's elements as a table
        elements = func.json_each(AgentProfile.skills).table_valued("value")
        has_skill = select(elements.c.value).where(elements.c.value.in_(skills)).exists()
    stmt = select(AgentProfile).where(AgentProfile.present.is_(True), AgentProfile.last_seen_at >= here_since(),
                                      has_skill).order_by(AgentProfile.user_id)
    return {p.user_id: p for p in session.scalars(stmt.with_for_update() if lock else stmt)}


# --- presence ---------------------------------------------------------------------------------------

def here_since(now: datetime | None = None) -> datetime:
    """The oldest heartbeat of an agent still at their desk."""
    return (now or utcnow()) - PRESENCE_TTL


def is_here(row: AgentProfile, now: datetime | None = None) -> bool:
    return row.last_seen_at is not None and row.last_seen_at >= here_since(now)


def presence(row: AgentProfile, load: int, now: datetime | None = None) -> str:
    """``online``, ``busy`` or ``away`` (see the module's docstring)."""
    if not is_here(row, now):
        return "away"
    return "busy" if not row.present or load >= row.max_concurrent else "online"


def seen(session: Session, user_id: int, *, now: datetime | None = None) -> bool:
    """Record a heartbeat of ``user_id``'s workbench (flushed); whether they just came back from
    being away (their free slots should then be filled from the queue)."""
    now = now or utcnow()
    row = session.get(AgentProfile, user_id)
    if row is None:
        row = _default(user_id)
        session.add(row)
    came_back = not is_here(row, now)
    row.last_seen_at = now
    session.flush()
    return came_back


def whole_team(session: Session, *, at_desk: bool) -> None:
    """Every profiled member of staff at their desk (a heartbeat now) or away: the demo's
    history is worked by a staffed desk, and its live part starts with nobody logged in."""
    session.execute(update(AgentProfile).values(last_seen_at=utcnow() if at_desk else None))
    session.flush()


def went_away(session: Session, user_id: int) -> None:
    """The agent logged out: away at once, whatever their last heartbeat."""
    row = session.get(AgentProfile, user_id)
    if row is not None:
        row.last_seen_at = None
        session.flush()


def lock(session: Session, user_id: int) -> AgentProfile:
    """The profile row of ``user_id``, locked for the transaction (created if missing): slots are
    counted under it, so two processes never overfill an agent."""
    row = session.scalar(select(AgentProfile).where(AgentProfile.user_id == user_id).with_for_update())
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(_default(user_id))
    except IntegrityError:  # created meanwhile by another transaction
        pass
    return session.scalar(select(AgentProfile).where(AgentProfile.user_id == user_id).with_for_update())
