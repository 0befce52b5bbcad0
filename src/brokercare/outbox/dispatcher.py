"""The dispatcher: claims due messages, sends them through the channel adapters, records how it went.

One pass (:meth:`Dispatcher.run_once`) is three stages:

1. **claim** — one ``UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING``
   moves up to ``n`` due messages to ``sending`` with a lease. On PostgreSQL, ``SKIP LOCKED`` lets
   any number of dispatchers claim side by side without ever claiming the same row; on SQLite the
   statement is atomic under the database's single writer. In the same transaction, messages to
   customers in their quiet hours are put back until the hours end, and customers' addresses are
   read (through the customers service) and decrypted — in memory only.
2. **send** — by a fixed set of workers per channel (``BROKERCARE_OUTBOX_CONCURRENCY`` requests
   in flight), each request with its idempotency key; per-channel rates limit how many are
   claimed per second.
3. **record** — sent, failed (retry after exponential backoff with jitter, or the gateway's
   ``Retry-After``) or dead (refused for good, ``BROKERCARE_OUTBOX_MAX_ATTEMPTS`` tries, expired),
   each guarded by the claim's lease, so a dispatcher that lost its lease records nothing.

Delivery is at least once: a dispatcher that dies between send and record leaves its messages in
``sending``; when the lease runs out another claims them and sends them again with the same key,
which a gateway that honours ``Idempotency-Key`` (or SMTP ``Message-ID``) drops as a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from brokercare.core.bus import Event, get_bus
from brokercare.core.database import utcnow
from brokercare.core.metrics import OUTBOX_SENDS
from brokercare.core.settings import Settings, get_settings
from brokercare.customers.service import get_customers
from brokercare.outbox.adapters import (
    CHANNEL_SETTINGS,
    CHANNELS,
    Adapter,
    Outgoing,
    Permanent,
    Transient,
    build_adapters,
)
from brokercare.outbox.addresses import address_hint
from brokercare.outbox.events import MESSAGE_DEAD, MessageDead
from brokercare.outbox.models import OutboxMessage as M
from brokercare.outbox.quiet_hours import periods_of, quiet_until
from brokercare.security.service import FieldCipher, get_cipher

log = logging.getLogger(__name__)
SessionFactory = Callable[[], Session]
RATE_SETTINGS = {"app": "push_rate_per_s", "sms": "sms_rate_per_s",
                 "wechat": "wechat_rate_per_s", "email": "email_rate_per_s"}
HELD_WARNING_EVERY_S = 60.0


@dataclass
class DispatchCounts:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0  # put back until the customer's quiet hours end

    def __iadd__(self, other: DispatchCounts) -> DispatchCounts:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Outcome:
    id: int
    state: str  # sent, failed, dead
    error: str | None = None
    provider_id: str | None = None
    hint: str | None = None
    retry_at: datetime | None = None


class TokenBucket:
    """At most ``rate`` claims a second on a channel, in bursts of at most one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.at = self.capacity, time.monotonic()

    def available(self) -> int:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return int(self.tokens)

    def take(self, n: int) -> None:
        self.tokens -= n


# Buckets and held-channel warnings live as long as the process, across Dispatcher instances (the
# scheduler makes one per call of dispatch_due).
_buckets: dict[tuple[str, float], TokenBucket] = {}
_held_warned: dict[str, float] = {}


def backoff(attempt: int, settings: Settings, retry_after: float | None = None) -> float:
    """Seconds before try ``attempt + 1``: base·2^(attempt−1), capped, the upper half random."""
    delay = min(settings.outbox_backoff_max_s, settings.outbox_backoff_s * 2 ** max(0, attempt - 1))
    delay = delay / 2 + random.uniform(0, delay / 2)
    return max(delay, retry_after or 0.0)


# --- claim -------------------------------------------------------------------------------------------

def _claim(session: Session, channels: list[str], n: int, now: datetime, lease_until: datetime) -> list:
    due = or_(and_(M.state.in_(("pending", "failed")), M.next_attempt_at <= now),
              and_(M.state == "sending", M.lease_until < now))
    pick = (select(M.id).where(due, M.channel.in_(channels))
            .order_by(M.urgent.desc(), M.next_attempt_at, M.id).limit(n))
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (update(M).where(M.id.in_(pick))
            .values(state="sending", lease_until=lease_until, attempts=M.attempts + 1)
            .returning(M.id, M.idempotency_key, M.channel, M.kind, M.urgent, M.customer_id,
                       M.address_enc, M.subject, M.body, M.origin, M.origin_ref, M.attempts,
                       M.expires_at)
            .execution_options(synchronize_session=False))
    return list(session.execute(stmt).all())


def _defer_quiet(session: Session, rows: list, now: datetime) -> tuple[list, int]:
    """Put back the claimed messages whose customer is in quiet hours; return the others."""
    customers = {r.customer_id for r in rows if r.customer_id is not None and not r.urgent}
    if not customers:
        return rows, 0
    periods = periods_of(session, customers)
    wait = {cid: until for cid in customers
            if (until := quiet_until(now, periods[cid][0])) is not None}
    deferred = [{"b_id": r.id, "b_until": wait[r.customer_id]} for r in rows
                if not r.urgent and r.customer_id in wait]
    if deferred:
        t = M.__table__
        session.connection().execute(
            update(t).where(t.c.id == bindparam("b_id"))
            .values(state="pending", lease_until=None, attempts=t.c.attempts - 1,
                    next_attempt_at=bindparam("b_until")), deferred)
    back = {d["b_id"] for d in deferred}
    return [r for r in rows if r.id not in back], len(deferred)


def _customer_address(customer, channel: str, cipher: FieldCipher) -> str | None:
    if channel == "sms":
        return cipher.decrypt(customer.phone_enc) if customer.phone_enc else None
    if channel == "email":
        return customer.email
    if channel == "wechat":
        return customer.wechat_openid
    return customer.customer_no  # the app's push gateway addresses customers by number


def _addressed(session: Session, rows: list, now: datetime) -> tuple[list[Outgoing], list[Outcome]]:
    """Outgoing messages with clear addresses, and outcomes for those that cannot be sent."""
    cipher = get_cipher(session)
    wanted = [r.customer_id for r in rows if r.address_enc is None and r.customer_id is not None]
    customers = {c.id: c for c in get_customers(session, list(set(wanted)))}
    ready, failed = [], []
    for r in rows:
        if r.expires_at is not None and r.expires_at <= now:
            failed.append(Outcome(r.id, "dead", error=f"expired at {r.expires_at:%Y-%m-%d %H:%M} UTC "
                                  "before it could be delivered"))
            continue
        if r.address_enc is not None:
            to = cipher.decrypt(r.address_enc)
        else:
            customer = customers.get(r.customer_id)
            to = _customer_address(customer, r.channel, cipher) if customer is not None else None
        if not to:
            failed.append(Outcome(r.id, "dead", error=f"customer {r.customer_id} has no "
                                  f"{r.channel} address on file"))
            continue
        ready.append(Outgoing(id=r.id, key=r.idempotency_key, channel=r.channel, kind=r.kind, to=to,
                              subject=r.subject, body=r.body, urgent=r.urgent, origin=r.origin,
                              origin_ref=r.origin_ref, attempt=r.attempts))
    return ready, failed


# --- record ------------------------------------------------------------------------------------------

def _record(session: Session, outcomes: list[Outcome], lease_until: datetime) -> None:
    t = M.__table__
    mine = and_(t.c.id == bindparam("b_id"), t.c.state == "sending", t.c.lease_until == lease_until)
    conn = session.connection()
    sent = [{"b_id": o.id, "b_pid": o.provider_id, "b_hint": o.hint}
            for o in outcomes if o.state == "sent"]
    if sent:
        conn.execute(update(t).where(mine).values(
            state="sent", lease_until=None, last_error=None, sent_at=utcnow(),
            provider_message_id=bindparam("b_pid"),
            address_hint=func.coalesce(t.c.address_hint, bindparam("b_hint"))), sent)
    failed = [{"b_id": o.id, "b_err": o.error, "b_next": o.retry_at}
              for o in outcomes if o.state == "failed"]
    if failed:
        conn.execute(update(t).where(mine).values(
            state="failed", lease_until=None, last_error=bindparam("b_err"),
            next_attempt_at=bindparam("b_next")), failed)
    dead = [{"b_id": o.id, "b_err": o.error} for o in outcomes if o.state == "dead"]
    if dead:
        conn.execute(update(t).where(mine).values(
            state="dead", lease_until=None, last_error=bindparam("b_err")), dead)


def _publish_dead(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    bus = get_bus()
    for m in session.scalars(select(M).where(M.id.in_(ids), M.state == "dead")):
        payload = MessageDead(message_id=m.id, channel=m.channel, kind=m.kind, origin=m.origin,
                              origin_ref=m.origin_ref, customer_id=m.customer_id,
                              attempts=m.attempts, error=m.last_error or "")
        bus.publish(Event(MESSAGE_DEAD, payload.model_dump(), customer_id=m.customer_id))


# --- the dispatcher ----------------------------------------------------------------------------------

class Dispatcher:
    """Sends due messages; one per process is enough, more may run side by side on PostgreSQL."""

    def __init__(self, sessions: SessionFactory, *, settings: Settings | None = None,
                 adapters: dict[str, Adapter] | None = None) -> None:
        self.sessions = sessions
        self.settings = settings or get_settings()
        self.adapters = build_adapters(self.settings) if adapters is None else adapters

    def _bucket(self, channel: str) -> TokenBucket | None:
        rate = getattr(self.settings, RATE_SETTINGS[channel])
        if rate <= 0:
            return None
        return _buckets.setdefault((channel, rate), TokenBucket(rate))

    def _quotas(self, limit: int) -> list[tuple[list[str], int]]:
        """Claims to make: the unthrottled channels together, each rate-limited one by itself."""
        free = [c for c in self.adapters if self._bucket(c) is None]
        quotas = [(free, limit)] if free else []
        for channel in self.adapters:
            bucket = self._bucket(channel)
            if bucket is not None and (n := min(limit, bucket.available())) > 0:
                quotas.append(([channel], n))
        return quotas

    def _claim_batch(self, limit: int, now: datetime, lease_until: datetime):
        counts, rows = DispatchCounts(), []
        with self.sessions() as session:
            for channels, n in self._quotas(limit):
                claimed = _claim(session, channels, n, now, lease_until)
                if len(channels) == 1 and (bucket := self._bucket(channels[0])) is not None:
                    bucket.take(len(claimed))
                rows += claimed
            counts.claimed = len(rows)
            channel_of = {r.id: r.channel for r in rows}
            rows, counts.deferred = _defer_quiet(session, rows, now)
            ready, unsendable = _addressed(session, rows, now)
            session.commit()
        return counts, ready, unsendable, channel_of

    async def run_once(self, limit: int | None = None, *, now: datetime | None = None) -> DispatchCounts:
        """Claim, send and record one batch of at most ``limit`` due messages."""
        limit = limit or self.settings.outbox_batch
        now = now or utcnow()
        lease_until = now + timedelta(seconds=self.settings.outbox_lease_s)
        self._warn_held()
        counts, ready, outcomes, channel_of = self._claim_batch(limit, now, lease_until)
        if not counts.claimed:
            return counts
        outcomes += await self._send_all(ready, now)
        for o in outcomes:
            OUTBOX_SENDS.labels(channel_of[o.id], o.state).inc()
        with self.sessions() as session:
            _record(session, outcomes, lease_until)
            session.commit()
            _publish_dead(session, [o.id for o in outcomes if o.state == "dead"])
        for o in outcomes:
            counts.sent += o.state == "sent"
            counts.retrying += o.state == "failed"
            counts.dead += o.state == "dead"
        log.info("outbox pass: %s", counts.as_dict())
        return counts

    async def _send_all(self, ready: list[Outgoing], now: datetime) -> list[Outcome]:
        """Send with a fixed set of workers per channel (``BROKERCARE_OUTBOX_CONCURRENCY``, fewer
        where the adapter allows fewer): a task per message would cost more than a webhook."""
        by_channel: dict[str, list[Outgoing]] = {}
        for m in ready:
            by_channel.setdefault(m.channel, []).append(m)
        outcomes: list[Outcome] = []

        async def worker(adapter: Adapter, queue: list[Outgoing]) -> None:
            while queue:
                outcomes.append(await self._deliver(adapter, queue.pop(), now))

        workers = []
        for channel, queue in by_channel.items():
            adapter = self.adapters[channel]
            queue.reverse()  # pop() from the end sends in claim order
            n = min(adapter.max_in_flight, self.settings.outbox_concurrency, len(queue))
            workers += [worker(adapter, queue) for _ in range(n)]
        await asyncio.gather(*workers)
        return outcomes

    async def _deliver(self, adapter: Adapter, m: Outgoing, now: datetime) -> Outcome:
        try:
            async with asyncio.timeout(self.settings.outbox_timeout_s * 3):  # token + send, at most
                pid = await adapter.send(m)
        except Permanent as exc:
            problem, retry_after, final = str(exc), None, True
        except Transient as exc:
            problem, retry_after, final = str(exc), exc.retry_after, False
        except TimeoutError:
            problem, retry_after, final = f"{m.channel} send timed out", None, False
        except Exception as exc:
            log.exception("outbox message %s: unexpected error from the %s adapter", m.id, m.channel)
            problem, retry_after, final = f"{type(exc).__name__}: {exc}", None, False
        else:
            return Outcome(m.id, "sent", provider_id=pid, hint=address_hint(m.channel, m.to))
        problem, attempt = problem[:500], m.attempt
        if final or attempt >= self.settings.outbox_max_attempts:
            log.warning("outbox message %s (%s, key %s) dead after %d tries: %s",
                        m.id, m.channel, m.key, attempt, problem)
            return Outcome(m.id, "dead", error=problem)
        retry_at = now + timedelta(seconds=backoff(attempt, self.settings, retry_after))
        log.warning("outbox message %s (%s) try %d failed, retry at %s: %s",
                    m.id, m.channel, attempt, retry_at.isoformat(timespec="seconds"), problem)
        return Outcome(m.id, "failed", error=problem, retry_at=retry_at)

    def _warn_held(self) -> None:
        """Say, once a minute, how many messages wait for a channel nobody configured."""
        idle = [c for c in CHANNELS if c not in self.adapters]
        clock = time.monotonic()
        due = [c for c in idle if clock - _held_warned.get(c, -HELD_WARNING_EVERY_S) >= HELD_WARNING_EVERY_S]
        if not due:
            return
        with self.sessions() as session:
            held = dict(session.execute(
                select(M.channel, func.count()).where(M.state == "pending", M.channel.in_(due))
                .group_by(M.channel)).all())
        for channel in due:
            _held_warned[channel] = clock
            if held.get(channel):
                log.warning("outbox: %d %s message(s) held: the channel is not configured (set %s)",
                            held[channel], channel, CHANNEL_SETTINGS[channel])

    async def run(self, *, batch: int | None = None, idle_s: float = 0.5,
                  stop: asyncio.Event | None = None, wake: asyncio.Event | None = None) -> DispatchCounts:
        """Dispatch until ``stop`` is set, sleeping ``idle_s`` whenever nothing was due, or until
        ``wake`` is set (messages were just queued in this process)."""
        stop = stop or asyncio.Event()
        total = DispatchCounts()
        while not stop.is_set():
            if wake is not None:
                wake.clear()  # what is queued from here on is either claimed below or wakes us again
            counts = await self.run_once(batch)
            total += counts
            if not counts.claimed:
                await _idle(stop, wake, idle_s)
        return total

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()


async def _idle(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` or ``wake`` is set meanwhile."""
    events = [stop] if wake is None else [stop, wake]
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def dispatch_due_async(session_factory: SessionFactory, *, limit: int | None = None,
                             batch: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Send what is due, up to ``limit`` messages (default 20 batches), ``batch`` per pass."""
    settings = get_settings()
    batch = batch or settings.outbox_batch
    limit = limit or batch * 20
    dispatcher = Dispatcher(session_factory, settings=settings)
    total = DispatchCounts()
    try:
        while total.claimed < limit:
            counts = await dispatcher.run_once(min(batch, limit - total.claimed), now=now)
            total += counts
            if counts.claimed == counts.deferred:  # nothing (more) to send now
                break
    finally:
        await dispatcher.aclose()
    return total.as_dict()


def dispatch_due(session_factory: SessionFactory, *, limit: int | None = None,
                 batch: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """What the scheduler calls every few seconds: send what is due; return the counts
    (claimed, sent, retrying, dead, deferred). Runs its own event loop — on a thread of its own
    when this thread already runs one (a caller inside Playwright's sync API or a notebook)."""
    def run() -> dict[str, int]:
        return asyncio.run(dispatch_due_async(session_factory, limit=limit, batch=batch, now=now))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-dispatch") as pool:
        return pool.submit(run).result()
