"""The Redis Streams bus against the real Redis: groups, ack after commit, reclaim, dead letters."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from brokercare.core.bus import Event, get_bus, set_bus
from brokercare.core.bus_redis import RedisStreamBus, idempotent_handler, partition_for
from brokercare.core.models import ProcessedEvent
from brokercare.core.settings import reset_settings

pytestmark = pytest.mark.redis


class Crash(BaseException):
    """Stands for the process dying mid-batch: not an Exception, so nothing catches it."""


def make_bus(redis_url, prefix, **kw) -> RedisStreamBus:
    kw.setdefault("block_ms", 20)
    return RedisStreamBus(redis_url, prefix=prefix, **kw)


def test_publish_subscribe_and_ack(redis_url, redis_prefix):
    bus = make_bus(redis_url, redis_prefix)
    seen: list[Event] = []
    bus.subscribe("trade.executed", seen.append, group="cdp")
    sent = [
        Event("trade.executed", {"symbol": "600519.SH", "qty": 200}, customer_id=i)
        for i in range(5)
    ]
    for e in sent:
        bus.publish(e)
    assert bus.drain() == 5
    assert [e.id for e in seen] == [e.id for e in sent]
    assert seen[0].payload == {"symbol": "600519.SH", "qty": 200}
    assert bus.pending_count("cdp") == 0


def test_every_group_gets_every_event_and_consumers_in_a_group_share(redis_url, redis_prefix):
    a1 = make_bus(redis_url, redis_prefix, consumer="a1", batch_size=3)
    a2 = make_bus(redis_url, redis_prefix, consumer="a2", batch_size=3)
    b = make_bus(redis_url, redis_prefix, consumer="b1")
    got_a1, got_a2, got_b = [], [], []
    a1.subscribe("login.succeeded", lambda e: got_a1.append(e.id), group="risk")
    a2.subscribe("login.succeeded", lambda e: got_a2.append(e.id), group="risk")
    b.subscribe("login.succeeded", lambda e: got_b.append(e.id), group="cdp")
    ids = a1.publish_many(Event("login.succeeded", {"ip": f"10.0.0.{i}"}) for i in range(10))
    assert len(ids) == 10
    a1.poll(block_ms=0)
    a2.poll(block_ms=0)
    a1.drain()
    a2.drain()
    b.drain()
    assert len(got_a1) > 0 and len(got_a2) > 0
    assert sorted(got_a1 + got_a2) == sorted(got_b)
    assert len(set(got_a1) & set(got_a2)) == 0


def test_group_created_after_publish_still_reads_the_backlog(redis_url, redis_prefix):
    bus = make_bus(redis_url, redis_prefix)
    bus.publish(Event("transfer.requested", {"amount": "50000.00"}, customer_id=7))
    seen = []
    bus.subscribe("transfer.requested", seen.append, group="risk")
    bus.drain()
    assert len(seen) == 1 and seen[0].payload["amount"] == "50000.00"


def test_failed_handler_is_retried_then_acknowledged(redis_url, redis_prefix):
    bus = make_bus(redis_url, redis_prefix, min_idle_ms=0)
    attempts: list[int] = []

    def flaky(event: Event) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("database briefly unavailable")

    bus.subscribe("quote.snapshot", flaky, group="monitor")
    bus.publish(Event("quote.snapshot", {"seq": 1}))
    bus.drain()
    assert len(attempts) == 3
    assert bus.pending_count("monitor") == 0
    assert bus.dead_letters("monitor") == []
    assert bus.stats.failed == 2 and bus.stats.handled == 1


def test_poison_message_goes_to_dead_letter_after_max_deliveries(redis_url, redis_prefix):
    bus = make_bus(redis_url, redis_prefix, min_idle_ms=0, max_deliveries=3)
    calls: list[str] = []

    def broken(event: Event) -> None:
        calls.append(event.id)
        raise ValueError("账户不存在")

    good: list[str] = []
    bus.subscribe("account.updated", broken, group="cdp")
    other = make_bus(redis_url, redis_prefix)
    other.subscribe("account.updated", lambda e: good.append(e.id), group="audit")
    event = Event("account.updated", {"account_id": 42})
    bus.publish(event)
    bus.drain()
    other.drain()
    assert len(calls) == 3
    dead = bus.dead_letters("cdp")
    assert len(dead) == 1
    assert Event.from_json(dead[0]["event"]).id == event.id
    assert dead[0]["deliveries"] == "3" and "账户不存在" in dead[0]["error"]
    assert bus.pending_count("cdp") == 0
    assert good == [event.id]  # the other group is unaffected


def test_malformed_entry_is_dead_lettered_not_retried(redis_url, redis_prefix):
    bus = make_bus(redis_url, redis_prefix)
    seen = []
    bus.subscribe("message.received", seen.append, group="assistant")
    bus.redis.xadd(bus.stream_name("message.received"), {"event": "{not json"})
    bus.publish(Event("message.received", {"text": "我的新股中签了吗"}))
    bus.drain()
    assert len(seen) == 1
    assert len(bus.dead_letters("assistant")) == 1
    assert "malformed" in bus.dead_letters("assistant")[0]["error"]


def test_partitioned_streams_route_by_customer(redis_url, redis_prefix):
    parts = {"trade.executed": 4}
    pub = make_bus(redis_url, redis_prefix, partitions=parts)
    workers = [
        make_bus(redis_url, redis_prefix, partitions=parts, consumer=f"w{k}") for k in range(2)
    ]
    got: list[list[Event]] = [[], []]
    workers[0].subscribe("trade.executed", got[0].append, group="monitor", partitions=[0, 1])
    workers[1].subscribe("trade.executed", got[1].append, group="monitor", partitions=[2, 3])
    events = [Event("trade.executed", {"n": i}, customer_id=1000 + i) for i in range(40)]
    pub.publish_many(events)
    for w in workers:
        w.drain()
    assert len(got[0]) + len(got[1]) == 40
    for k, owned in ((0, {0, 1}), (1, {2, 3})):
        assert got[k], "each worker owns some customers"
        assert all(partition_for(e.customer_id, 4) in owned for e in got[k])
    # one customer's events arrive in publish order
    by_customer = [e.payload["n"] for e in got[0] + got[1] if e.customer_id == 1005]
    assert by_customer == [5]
    with pytest.raises(ValueError, match="out of range"):
        workers[0].subscribe("trade.executed", got[0].append, group="x", partitions=[4])


def test_dead_consumer_entries_are_reclaimed_and_handled_once(redis_url, redis_prefix, engine):
    """A consumer dies mid-batch after committing some events; another takes over its pending list."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    effects: list[str] = []

    def work(session, event: Event) -> None:
        session.add(ProcessedEvent(consumer="effect", event_id=event.id))  # the handler's own write
        effects.append(event.id)

    events = [Event("trade.executed", {"n": i}, customer_id=i) for i in range(12)]
    dying = make_bus(redis_url, redis_prefix, consumer="dying", batch_size=12)
    handled_by_dying = 0
    base = idempotent_handler("ledger-sync", work, sessions=sessions)

    def dies_after_five(event: Event) -> None:
        nonlocal handled_by_dying
        base(event)
        handled_by_dying += 1
        if handled_by_dying == 5:
            raise Crash  # committed, but never acknowledged

    dying.subscribe("trade.executed", dies_after_five, group="sync")
    dying.publish_many(events)
    with pytest.raises(Crash):
        dying.poll(block_ms=0)
    assert dying.pending_count("sync") == 8  # four acked; the fifth committed but not acked

    heir = make_bus(redis_url, redis_prefix, consumer="heir", min_idle_ms=1)
    heir.subscribe(
        "trade.executed", idempotent_handler("ledger-sync", work, sessions=sessions), group="sync"
    )
    heir.drain()
    assert heir.stats.reclaimed == 8
    assert heir.pending_count("sync") == 0
    with sessions() as s:
        done = s.scalars(
            select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == "effect")
        ).all()
        marks = s.scalar(
            select(func.count())
            .select_from(ProcessedEvent)
            .where(ProcessedEvent.consumer == "ledger-sync")
        )
    assert sorted(done) == sorted(e.id for e in events)  # each effect exactly once
    assert marks == 12
    assert len(effects) == 12  # the fifth, committed before the crash, was not redone


def test_get_bus_selects_redis_from_settings(redis_url, monkeypatch):
    monkeypatch.setenv("BROKERCARE_BUS_URL", redis_url)
    reset_settings()
    set_bus(None)
    bus = get_bus()
    assert isinstance(bus, RedisStreamBus)
    assert bus.prefix == "brokercare:"


def test_bad_subscriptions_are_refused(redis_url, redis_prefix):
    bus = make_bus(redis_url, redis_prefix)
    with pytest.raises(ValueError, match="one stream per event type"):
        bus.subscribe("*", print, group="g")
    bus.subscribe("a.b", print, group="g")
    with pytest.raises(ValueError, match="already has a handler"):
        bus.subscribe("a.b", print, group="g")
    with pytest.raises(ValueError, match="not partitioned"):
        bus.subscribe("c.d", print, group="g", partitions=[0])


def test_restarted_consumer_resumes_its_own_pending_entries_in_order(redis_url, redis_prefix):
    first = make_bus(redis_url, redis_prefix, consumer="shard-0")
    seen: list[int] = []

    def dies_on_third(event: Event) -> None:
        if event.payload["n"] == 3:
            raise Crash
        seen.append(event.payload["n"])

    first.subscribe("quote.snapshot", dies_on_third, group="monitor-0")
    first.publish_many(Event("quote.snapshot", {"n": i}) for i in range(8))
    with pytest.raises(Crash):
        first.poll(block_ms=0)
    # same consumer name, long min-idle: its own history is read at once and in order
    second = make_bus(redis_url, redis_prefix, consumer="shard-0", min_idle_ms=600_000)
    second.subscribe("quote.snapshot", lambda e: seen.append(e.payload["n"]), group="monitor-0")
    second.drain()
    assert seen == list(range(8))
    assert second.pending_count("monitor-0") == 0
