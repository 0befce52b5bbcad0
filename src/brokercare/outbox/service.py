"""The outbox's service: enqueue in the caller's transaction, read and retry for staff, quiet hours,
receipts, and the dispatcher entry point for the scheduler.

Any domain above ``customers`` sends a message with :func:`enqueue` (or :func:`enqueue_many` on hot
paths) inside the transaction that writes what the message is about: it exists exactly when that
write commits, and the same ``idempotency_key`` twice is one message. The dispatcher
(:func:`dispatch_due`) delivers it later; :func:`delivery_states` tells the author how it went.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, time

import polars as pl
from pydantic import ValidationError
from sqlalchemy import Connection, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from brokercare.core.bulkread import beijing_date, driver_rows
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.customers.service import get_customer
from brokercare.outbox.adapters import CHANNEL_SETTINGS, CHANNELS, configured_channels
from brokercare.outbox.addresses import address_hint, check_address
from brokercare.outbox.dispatcher import dispatch_due as dispatch_due
from brokercare.outbox.dispatcher import dispatch_due_async as dispatch_due_async
from brokercare.outbox.models import OutboxMessage, QuietHours
from brokercare.outbox.quiet_hours import describe, periods_of
from brokercare.outbox.schemas import (
    STATES,
    ChannelSummary,
    DeliveryState,
    MessageView,
    NewMessage,
    Queued,
    QuietHoursView,
)
from brokercare.security.service import get_cipher

# --- enqueue ------------------------------------------------------------------------------------

_QUEUED = "brokercare.outbox_queued"
#: Called (no arguments, in the committing thread) after a transaction that queued messages commits.
_listeners: list[Callable[[], None]] = []


def on_queued(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` whenever a transaction of this process that queued messages has committed;
    returns the function that removes it. The embedded dispatcher listens so that an alert's
    message leaves as soon as its snapshot is recorded, not at the dispatcher's next idle poll
    (half a second on average and a second at worst, of a one-second alert budget)."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.pop(_QUEUED, False):
        return  # a released savepoint is reported as a commit too; the outer one decides
    for listener in list(_listeners):
        listener()


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_QUEUED, None)


def enqueue(session: Session, *, channel: str, kind: str, body: str, idempotency_key: str,
            origin: str, origin_ref: str | None = None, customer_id: int | None = None,
            user_id: int | None = None, address: str | None = None, subject: str | None = None,
            urgent: bool = False, not_before: datetime | None = None,
            expires_at: datetime | None = None) -> Queued:
    """Queue one message in the caller's transaction (not committed here).

    Bad input raises :class:`ValidationFailed` and queues nothing. Enqueueing a key that already
    exists returns that message (``created=False``) and changes nothing.
    """
    fields = {k: v for k, v in locals().items() if k != "session"}
    try:
        message = NewMessage(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"outbox message refused: {where} {first['msg']}".strip()) from exc
    return enqueue_many(session, [message])[0]


def enqueue_many(session: Session, messages: list[NewMessage]) -> list[Queued]:
    """Queue many messages with one INSERT (a fan-out of alerts); answers in the given order."""
    if not messages:
        return []
    now = utcnow()
    for m in messages:
        check_address(m.channel, m.address)
    cipher = get_cipher(session)
    sealed = cipher.encrypt_many([m.address or None for m in messages])
    rows = [
        {"idempotency_key": m.idempotency_key, "channel": m.channel, "kind": m.kind,
         "urgent": m.urgent, "customer_id": m.customer_id, "user_id": m.user_id,
         "address_enc": enc, "address_hint": address_hint(m.channel, m.address),
         "subject": m.subject, "body": m.body, "origin": m.origin, "origin_ref": m.origin_ref,
         "state": "pending", "attempts": 0, "next_attempt_at": m.not_before or now,
         "expires_at": m.expires_at, "created_at": now}
        for m, enc in zip(messages, sealed, strict=True)
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (insert(OutboxMessage).on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(OutboxMessage.id, OutboxMessage.idempotency_key))
    created = {key: mid for mid, key in session.execute(stmt, rows).all()}
    if created:
        session.info[_QUEUED] = True
    missing = [m.idempotency_key for m in messages if m.idempotency_key not in created]
    existing = dict(session.execute(
        select(OutboxMessage.idempotency_key, OutboxMessage.id)
        .where(OutboxMessage.idempotency_key.in_(missing))).all()) if missing else {}
    return [Queued(id=created.get(m.idempotency_key) or existing[m.idempotency_key],
                   idempotency_key=m.idempotency_key, created=m.idempotency_key in created)
            for m in messages]


# --- reading and retrying -----------------------------------------------------------------------

def _view(row: OutboxMessage, *, show_body: bool, ready: set[str], now: datetime) -> MessageView:
    view = MessageView.model_validate(row)
    if not show_body:
        view.body = None
        view.subject = None if row.subject is None else "（已隐藏）"
    view.note = _note(row, ready, now)
    return view


def _note(row: OutboxMessage, ready: set[str], now: datetime) -> str | None:
    """Why a message that is not sent yet is waiting, in an operator's words."""
    if row.state not in ("pending", "failed"):
        return None
    if row.channel not in ready:
        return f"held: channel {row.channel} is not configured (set {CHANNEL_SETTINGS[row.channel]})"
    if row.next_attempt_at > now:
        local = row.next_attempt_at.astimezone(SHANGHAI)
        why = "retry" if row.state == "failed" else "scheduled"
        return f"{why} at {local:%Y-%m-%d %H:%M} Beijing time"
    return "due: waiting for a dispatcher"


def list_messages(session: Session, *, state: str | None = None, channel: str | None = None,
                  origin: str | None = None, origin_ref: str | None = None,
                  customer_id: int | None = None, before_id: int | None = None, limit: int = 50,
                  show_body: bool = True) -> list[MessageView]:
    """Messages newest first, filtered; page with ``before_id`` (the last id of a page)."""
    if state is not None and state not in STATES:
        raise ValidationFailed(f"unknown state {state!r}; states: {', '.join(STATES)}")
    if channel is not None and channel not in CHANNELS:
        raise ValidationFailed(f"unknown channel {channel!r}; channels: {', '.join(CHANNELS)}")
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(max(1, min(limit, 1000)))
    for column, value in ((OutboxMessage.state, state), (OutboxMessage.channel, channel),
                          (OutboxMessage.origin, origin), (OutboxMessage.origin_ref, origin_ref),
                          (OutboxMessage.customer_id, customer_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if before_id is not None:
        stmt = stmt.where(OutboxMessage.id < before_id)
    ready, now = configured_channels(get_settings()), utcnow()
    return [_view(r, show_body=show_body, ready=ready, now=now) for r in session.scalars(stmt)]


def get_message(session: Session, message_id: int, *, show_body: bool = True) -> MessageView:
    row = session.get(OutboxMessage, message_id)
    if row is None:
        raise NotFound(f"outbox message {message_id} does not exist")
    return _view(row, show_body=show_body, ready=configured_channels(get_settings()), now=utcnow())


def retry(session: Session, message_id: int, *, now: datetime | None = None) -> MessageView:
    """Send a failed or dead message again from its first try (flushed; the caller commits)."""
    now = now or utcnow()
    row = session.get(OutboxMessage, message_id, with_for_update=True)
    if row is None:
        raise NotFound(f"outbox message {message_id} does not exist")
    if row.state == "sent":
        raise Conflict(f"outbox message {message_id} was already sent at {row.sent_at:%Y-%m-%d %H:%M:%S} UTC")
    if row.state == "sending":
        raise Conflict(f"outbox message {message_id} is being sent right now")
    if row.state in ("failed", "dead"):
        row.state, row.attempts, row.lease_until = "pending", 0, None
        row.next_attempt_at = now
        if row.expires_at is not None and row.expires_at <= now:
            row.expires_at = None  # staff decided it is still worth sending
    session.flush()
    return get_message(session, message_id)


def delivery_states(session: Session, *, origin: str, refs: Iterable[str]) -> dict[str, list[DeliveryState]]:
    """How the messages written for ``refs`` (e.g. ``message:812``) went, for showing beside them."""
    refs = list(dict.fromkeys(refs))
    out: dict[str, list[DeliveryState]] = {r: [] for r in refs}
    if not refs:
        return out
    rows = session.execute(
        select(OutboxMessage.origin_ref, OutboxMessage.id, OutboxMessage.channel,
               OutboxMessage.state, OutboxMessage.attempts, OutboxMessage.last_error,
               OutboxMessage.sent_at)
        .where(OutboxMessage.origin == origin, OutboxMessage.origin_ref.in_(refs))
        .order_by(OutboxMessage.id))
    for ref, mid, channel, state, attempts, error, sent_at in rows:
        out[ref].append(DeliveryState(id=mid, channel=channel, state=state, attempts=attempts,
                                      last_error=error, sent_at=sent_at, delivered=state != "dead"))
    return out


def recent_counts(session: Session, *, origin: str, customer_ids: list[int], since: datetime,
                  include_urgent: bool = False) -> dict[int, int]:
    """How many things (distinct ``origin_ref``, however many channels each went on) ``origin``
    queued for each customer since ``since``: what a per-customer cap (alerts per hour) counts."""
    if not customer_ids:
        return {}
    stmt = (select(OutboxMessage.customer_id, func.count(func.distinct(OutboxMessage.origin_ref)))
            .where(OutboxMessage.origin == origin, OutboxMessage.customer_id.in_(list(customer_ids)),
                   OutboxMessage.created_at >= since)
            .group_by(OutboxMessage.customer_id))
    if not include_urgent:
        stmt = stmt.where(OutboxMessage.urgent.is_(False))
    return dict(session.execute(stmt).all())


def state_counts(conn: Connection, *, origin: str, start: datetime, end: datetime) -> pl.DataFrame:
    """Messages ``origin`` queued in ``[start, end)`` counted by channel, kind, state and Beijing
    day, in SQL: what a delivery report reads (delivered: ``sent``; failed for good: ``dead``)."""
    day = beijing_date(OutboxMessage.created_at, conn.dialect.name).label("day")
    stmt = (select(OutboxMessage.channel, OutboxMessage.kind, OutboxMessage.state, day, func.count())
            .where(OutboxMessage.origin == origin, OutboxMessage.created_at >= start,
                   OutboxMessage.created_at < end)
            .group_by(OutboxMessage.channel, OutboxMessage.kind, OutboxMessage.state, day))
    return pl.DataFrame(driver_rows(conn, stmt), orient="row", schema={
        "channel": pl.String, "kind": pl.String, "state": pl.String, "day": pl.String, "messages": pl.Int64})


def summary(session: Session, *, now: datetime | None = None) -> list[ChannelSummary]:
    """Depth and failures per channel (sent messages are not counted: they only grow)."""
    now = now or utcnow()
    ready = configured_channels(get_settings())
    counts: dict[str, dict[str, int]] = {c: dict.fromkeys(("pending", "sending", "failed", "dead"), 0)
                                         for c in CHANNELS}
    for channel, state, n in session.execute(
            select(OutboxMessage.channel, OutboxMessage.state, func.count())
            .where(OutboxMessage.state.in_(("pending", "sending", "failed", "dead")))
            .group_by(OutboxMessage.channel, OutboxMessage.state)):
        counts.setdefault(channel, {})[state] = n
    oldest = dict(session.execute(
        select(OutboxMessage.channel, func.min(OutboxMessage.next_attempt_at))
        .where(OutboxMessage.state.in_(("pending", "failed")), OutboxMessage.next_attempt_at <= now)
        .group_by(OutboxMessage.channel)).all())
    return [ChannelSummary(channel=c, configured=c in ready, setting=CHANNEL_SETTINGS[c],
                           counts=counts[c],
                           oldest_due_s=(now - oldest[c]).total_seconds() if c in oldest else None)
            for c in CHANNELS]


# --- quiet hours --------------------------------------------------------------------------------

def set_quiet_hours(session: Session, customer_id: int, *, start: time | None,
                    end: time | None) -> QuietHoursView:
    """A customer's do-not-disturb period (Beijing time); both None removes it."""
    if (start is None) != (end is None):
        raise ValidationFailed("免打扰时段需要同时设置开始和结束时间")
    get_customer(session, customer_id)
    row = session.get(QuietHours, customer_id)
    if start is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(QuietHours(customer_id=customer_id, start=start, end=end))
    else:
        row.start, row.end = start, end
    session.flush()
    return quiet_hours_of(session, [customer_id])[customer_id]


def quiet_hours_of(session: Session, customer_ids: list[int]) -> dict[int, QuietHoursView]:
    """Each customer's quiet hours: their own, else the broker's default, else none."""
    return {cid: QuietHoursView(customer_id=cid, period=describe(period), source=source)
            for cid, (period, source) in periods_of(session, customer_ids).items()}


# --- receipts and the app's message centre --------------------------------------------------------

def mark_delivered(session: Session, provider_message_id: str, *, at: datetime | None = None) -> MessageView:
    """A gateway's delivery receipt for a sent message."""
    row = session.scalar(select(OutboxMessage).where(
        OutboxMessage.provider_message_id == provider_message_id).limit(1))
    if row is None:
        raise NotFound(f"no outbox message with provider id {provider_message_id}")
    if row.state == "sent" and row.delivered_at is None:
        row.delivered_at = at or utcnow()
    session.flush()
    return get_message(session, row.id)


def mark_read(session: Session, message_id: int, customer_id: int) -> MessageView:
    """The customer opened an app message (their own only)."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.customer_id != customer_id or row.channel != "app":
        raise NotFound("没有找到这条消息")
    if row.state != "sent":
        raise ValidationFailed("这条消息尚未送达，无法标记为已读")
    if row.read_at is None:
        row.read_at = utcnow()
        row.delivered_at = row.delivered_at or row.read_at
    session.flush()
    return get_message(session, message_id)


def inbox(session: Session, customer_id: int, *, limit: int = 50) -> list[MessageView]:
    """The customer's app messages that were delivered, newest first (the app's message centre)."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.customer_id == customer_id, OutboxMessage.channel == "app",
               OutboxMessage.state == "sent")
        .order_by(OutboxMessage.id.desc()).limit(max(1, min(limit, 200))))
    return [MessageView.model_validate(r) for r in rows]

