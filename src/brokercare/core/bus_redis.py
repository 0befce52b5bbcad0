"""The Redis Streams backend of the event bus (``BROKERCARE_BUS_URL=redis://...``).

Layout: one stream per event type, ``<prefix>stream:<type>``; an event type configured with
``partitions={type: n}`` gets ``n`` streams ``<prefix>stream:<type>:<k>``, the event going to
``k = partition_for(key, n)`` where the key is the event's customer id (else the payload's
``account_id`` or ``customer_id``). Workers that shard accounts subscribe to their own partitions
only, so one account's events are handled in order by one worker.

Delivery is at least once: a consumer group reads with ``XREADGROUP``, the handler runs, and the
entry is acknowledged (``XACK``) only after the handler returned, i.e. after it committed. A
consumer that dies leaves its entries in the group's pending list; any live consumer of the group
takes them over with ``XAUTOCLAIM`` once they have been idle ``min_idle_ms``. A handler that keeps
failing is retried the same way until ``max_deliveries``, then the entry is moved to the group's
dead-letter stream ``<prefix>dead:<group>`` (with the error) and acknowledged, so one poison
message never blocks a partition. Handlers become exactly-once in effect by recording the event
id in their own transaction: wrap them in :func:`idempotent_handler`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import ResponseError
from sqlalchemy.orm import Session, sessionmaker

from brokercare.core.bus import Event, Handler, validate_event
from brokercare.core.logs import log_context
from brokercare.core.service import mark_processed

log = logging.getLogger(__name__)

EVENT_FIELD = "event"


def partition_for(key: Any, partitions: int) -> int:
    """The partition of ``key`` (an account or customer id): stable across processes and hosts."""
    if partitions <= 1:
        return 0
    return zlib.crc32(str(key).encode()) % partitions


def partition_key(event: Event) -> Any:
    if event.customer_id is not None:
        return event.customer_id
    for name in ("account_id", "customer_id"):
        if event.payload.get(name) is not None:
            return event.payload[name]
    return event.id


def idempotent_handler(
    consumer: str,
    work: Callable[[Session, Event], None],
    *,
    sessions: sessionmaker[Session] | Callable[[], Session] | None = None,
) -> Handler:
    """A bus handler that runs ``work`` and records the event id in one transaction.

    A redelivered event (after a crash between commit and ack, or a reclaim) finds its id already
    recorded and does nothing, so the effect happens once. ``sessions`` defaults to the process's
    session factory.
    """

    def handle(event: Event) -> None:
        factory = sessions
        if factory is None:
            from brokercare.core.database import session_factory

            factory = session_factory()
        session = factory()
        try:
            with session.begin():
                if not mark_processed(session, consumer, event.id):
                    return
                work(session, event)
        finally:
            session.close()

    handle.__name__ = f"idempotent[{consumer}]"
    return handle


@dataclass
class _Subscription:
    event_type: str
    group: str
    handler: Handler
    streams: list[str]


@dataclass
class BusStats:
    handled: int = 0
    failed: int = 0
    reclaimed: int = 0
    dead_lettered: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # group, event id, error


class RedisStreamBus:
    """Event bus on Redis Streams with consumer groups, reclaim and a dead-letter stream."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "brokercare:",
        partitions: Mapping[str, int] | None = None,
        consumer: str | None = None,
        max_deliveries: int = 5,
        min_idle_ms: int = 30_000,
        batch_size: int = 100,
        block_ms: int = 1_000,
        maxlen: int | None = 1_000_000,
        client: redis.Redis | None = None,
    ) -> None:
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self.url = url
        self.prefix = prefix
        self.partitions = dict(partitions or {})
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.max_deliveries = max_deliveries
        self.min_idle_ms = min_idle_ms
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.maxlen = maxlen
        self.redis = client or redis.Redis.from_url(url, decode_responses=True)
        self._subs: dict[tuple[str, str], _Subscription] = {}  # (stream, group) -> subscription
        self._groups: dict[str, list[str]] = {}  # group -> its streams
        self.stats = BusStats()
        self._own_history_read: set[str] = set()

    # naming -----------------------------------------------------------------------------------
    def stream_name(self, event_type: str, partition: int | None = None) -> str:
        base = f"{self.prefix}stream:{event_type}"
        return base if partition is None else f"{base}:{partition}"

    def dead_letter_stream(self, group: str) -> str:
        return f"{self.prefix}dead:{group}"

    def streams_of(self, event_type: str, partitions: Iterable[int] | None = None) -> list[str]:
        n = self.partitions.get(event_type)
        if not n:
            if partitions is not None:
                raise ValueError(f"event type {event_type!r} is not partitioned on this bus")
            return [self.stream_name(event_type)]
        chosen = range(n) if partitions is None else sorted(set(partitions))
        for k in chosen:
            if not 0 <= k < n:
                raise ValueError(f"partition {k} out of range 0..{n - 1} for {event_type!r}")
        return [self.stream_name(event_type, k) for k in chosen]

    def stream_for(self, event: Event) -> str:
        n = self.partitions.get(event.type)
        if not n:
            return self.stream_name(event.type)
        return self.stream_name(event.type, partition_for(partition_key(event), n))

    # publishing -------------------------------------------------------------------------------
    def _xadd_args(self, event: Event) -> dict[str, Any]:
        args: dict[str, Any] = {"fields": {EVENT_FIELD: event.to_json()}}
        if self.maxlen:
            args.update(maxlen=self.maxlen, approximate=True)
        return args

    def publish(self, event: Event) -> str:
        """Append the event to its stream; returns the stream entry id."""
        validate_event(event)
        return self.redis.xadd(self.stream_for(event), **self._xadd_args(event))

    def publish_many(self, events: Iterable[Event]) -> list[str]:
        """Append many events in one round trip (a pipeline, not a transaction)."""
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            validate_event(event)
            pipe.xadd(self.stream_for(event), **self._xadd_args(event))
        return pipe.execute()

    # subscribing ------------------------------------------------------------------------------
    def subscribe(
        self,
        event_type: str,
        handler: Handler,
        *,
        group: str,
        partitions: Iterable[int] | None = None,
        start_id: str = "0",
    ) -> None:
        """Register ``handler`` for ``event_type`` in consumer group ``group``.

        The group is created if missing (``XGROUP CREATE ... MKSTREAM``). ``start_id="0"`` makes
        a new group read what the stream still holds, so events published before the first worker
        started are not lost; use ``"$"`` for a group that only wants new events.
        """
        if event_type == "*":
            raise ValueError("the Redis bus has one stream per event type; subscribe to each type")
        for stream in self.streams_of(event_type, partitions):
            if (stream, group) in self._subs:
                raise ValueError(f"group {group!r} already has a handler for {stream!r}")
            self._ensure_group(stream, group, start_id)
            self._subs[(stream, group)] = _Subscription(event_type, group, handler, [stream])
            self._groups.setdefault(group, []).append(stream)

    def _ensure_group(self, stream: str, group: str, start_id: str = "0") -> None:
        try:
            self.redis.xgroup_create(stream, group, id=start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # consuming --------------------------------------------------------------------------------
    def poll(self, *, block_ms: int | None = None) -> int:
        """One round: reclaim idle pending entries, then read new ones; returns entries settled."""
        if not self._subs:
            return 0
        done = self._read_own_history()
        done += self._reclaim()
        for group, streams in self._groups.items():
            done += self._read(group, streams, block_ms=None)
        if done == 0:
            wait = self.block_ms if block_ms is None else block_ms
            if wait > 0:
                per_group = max(1, wait // len(self._groups))
                for group, streams in self._groups.items():
                    done += self._read(group, streams, block_ms=per_group)
                    if done:
                        break
        return done

    def run(self, stop: threading.Event | None = None) -> None:
        """Consume until ``stop`` is set (forever when it is None)."""
        while stop is None or not stop.is_set():
            try:
                self.poll()
            except redis.ConnectionError:
                log.warning("Redis unreachable; retrying in 1 s", exc_info=True)
                time.sleep(1.0)

    def drain(self, *, timeout_s: float = 30.0, idle_rounds: int = 2) -> int:
        """Consume until nothing new arrives for ``idle_rounds`` polls (tests, batch jobs)."""
        total, idle = 0, 0
        deadline = time.monotonic() + timeout_s
        while idle < idle_rounds and time.monotonic() < deadline:
            n = self.poll(block_ms=50)
            total += n
            idle = 0 if n else idle + 1
        return total

    def _read(self, group: str, streams: list[str], *, block_ms: int | None) -> int:
        try:
            reply = self.redis.xreadgroup(
                group,
                self.consumer,
                {s: ">" for s in streams},
                count=self.batch_size,
                block=block_ms,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            for stream in streams:  # the stream was deleted behind our back: recreate and go on
                self._ensure_group(stream, group)
            return 0
        done = 0
        for stream, entries in reply or []:
            for entry_id, fields in entries:
                self._deliver(stream, group, entry_id, fields, deliveries=1)
                done += 1
        return done

    def _read_own_history(self) -> int:
        """Once per group: entries this consumer name was given before a restart, oldest first.

        A worker restarted under the same consumer name resumes exactly where it stopped, in
        order, without waiting for ``min_idle_ms``.
        """
        done = 0
        for group, streams in self._groups.items():
            if group in self._own_history_read:
                continue
            for stream in streams:
                last = "0"
                while True:
                    reply = self.redis.xreadgroup(
                        group, self.consumer, {stream: last}, count=self.batch_size
                    )
                    entries = [(eid, f) for _s, rows in reply or [] for eid, f in rows]
                    if not entries:
                        break
                    live = [(eid, f) for eid, f in entries if f]
                    counts = self._delivery_counts(stream, group, [eid for eid, _ in live])
                    for eid, fields in live:
                        self._deliver(stream, group, eid, fields, deliveries=counts.get(eid, 1))
                        done += 1
                    last = entries[-1][0]
            self._own_history_read.add(group)
        return done

    def _reclaim(self) -> int:
        done = 0
        for (stream, group), _sub in list(self._subs.items()):
            start = "0-0"
            while True:
                try:
                    reply = self.redis.xautoclaim(
                        stream,
                        group,
                        self.consumer,
                        min_idle_time=self.min_idle_ms,
                        start_id=start,
                        count=self.batch_size,
                    )
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    self._ensure_group(stream, group)
                    break
                start, entries = reply[0], reply[1]
                entries = [(eid, f) for eid, f in entries if f is not None]
                if entries:
                    counts = self._delivery_counts(stream, group, [eid for eid, _ in entries])
                    for entry_id, fields in entries:
                        self.stats.reclaimed += 1
                        self._deliver(
                            stream, group, entry_id, fields, deliveries=counts.get(entry_id, 1)
                        )
                        done += 1
                if start in ("0-0", b"0-0"):
                    break
        return done

    def _delivery_counts(self, stream: str, group: str, ids: list[str]) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(stream, group, min=entry_id, max=entry_id, count=1)
        counts: dict[str, int] = {}
        for rows in pipe.execute():
            for row in rows:
                counts[row["message_id"]] = int(row["times_delivered"])
        return counts

    def _deliver(
        self, stream: str, group: str, entry_id: str, fields: dict, *, deliveries: int
    ) -> None:
        sub = self._subs[(stream, group)]
        raw = fields.get(EVENT_FIELD)
        try:
            event = Event.from_json(raw)
        except Exception as exc:  # noqa: BLE001 - a malformed entry can never succeed
            self._dead_letter(stream, group, entry_id, raw, deliveries, f"malformed event: {exc}")
            return
        if deliveries > self.max_deliveries:
            self._dead_letter(
                stream, group, entry_id, raw, deliveries, "delivered too often without an ack"
            )
            return
        try:
            with log_context(event_id=event.id, event_type=event.type, group=group):
                sub.handler(event)
        except Exception as exc:  # noqa: BLE001 - leave the entry pending for a retry
            error = f"{type(exc).__name__}: {exc}"
            self.stats.failed += 1
            self.stats.failures.append((group, event.id, error))
            log.warning(
                "handler of %s failed on %s (delivery %d): %s", group, event.id, deliveries, error
            )
            if deliveries >= self.max_deliveries:
                self._dead_letter(stream, group, entry_id, raw, deliveries, error)
            return
        self.redis.xack(stream, group, entry_id)
        self.stats.handled += 1

    def _dead_letter(
        self, stream: str, group: str, entry_id: str, raw: Any, deliveries: int, error: str
    ) -> None:
        pipe = self.redis.pipeline(transaction=True)  # moved and acked atomically
        pipe.xadd(
            self.dead_letter_stream(group),
            {
                EVENT_FIELD: raw if raw is not None else "",
                "stream": stream,
                "entry_id": entry_id,
                "group": group,
                "deliveries": str(deliveries),
                "error": error[:2000],
            },
        )
        pipe.xack(stream, group, entry_id)
        pipe.execute()
        self.stats.dead_lettered += 1
        log.error("dead-lettered %s from %s for group %s: %s", entry_id, stream, group, error)

    # inspection -------------------------------------------------------------------------------
    def pending_count(self, group: str, event_type: str | None = None) -> int:
        """Entries delivered to ``group`` but not yet acknowledged."""
        streams = self.streams_of(event_type) if event_type else self._groups.get(group, [])
        total = 0
        for stream in streams:
            try:
                total += int(self.redis.xpending(stream, group)["pending"])
            except ResponseError:
                continue
        return total

    def dead_letters(self, group: str, count: int = 100) -> list[dict[str, str]]:
        return [
            {"dead_id": eid, **fields}
            for eid, fields in self.redis.xrange(self.dead_letter_stream(group), count=count)
        ]

    def close(self) -> None:
        self.redis.close()
