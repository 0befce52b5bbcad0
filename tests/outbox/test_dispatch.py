"""The dispatcher against a real local SMS/push gateway: failures, timeouts, recovery, dead letters,
quiet hours, unconfigured channels, expiry and rate limits."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock

from sqlalchemy import func, select

from brokercare.core.bus import get_bus
from brokercare.core.settings import reset_settings
from brokercare.outbox import dispatcher, service
from brokercare.outbox.events import MESSAGE_DEAD
from brokercare.outbox.models import OutboxMessage


def sms(session, person, n, **extra):
    fields = dict(channel="sms", kind="csat_request", customer_id=person.id, origin="service",
                  body=f"{person.name}您好，请为本次服务评分（1-5 分），回复数字即可。第{n}条",
                  idempotency_key=f"csat:ticket:{person.id}:{n}", origin_ref=f"ticket:{n}")
    fields.update(extra)
    return service.enqueue(session, **fields)


def drain(sessions, *, seconds=20.0, now=None):
    """Run the dispatcher until nothing is waiting (or ``seconds`` pass); return summed counts."""
    total: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts = service.dispatch_due(sessions, now=now)
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
        with sessions() as s:
            waiting = s.scalar(select(func.count()).select_from(OutboxMessage)
                               .where(OutboxMessage.state.in_(("pending", "failed", "sending"))))
        if not waiting:
            break
        time.sleep(0.05)
    return total


def states(session):
    session.expire_all()
    return dict(session.execute(select(OutboxMessage.state, func.count())
                                .group_by(OutboxMessage.state)).all())


def test_gateway_fails_times_out_and_recovers_nothing_lost_nothing_twice(session, sessions, people, channels):
    for n in range(30):
        sms(session, people[n % 3], n)
    session.commit()
    # The first requests get 500s; then two are delivered but answered too late (the dispatcher
    # times out after 2 s and will retry them); then the gateway works again.
    channels.script("sms", *["500"] * 8, "hang", "hang")
    totals = drain(sessions)

    assert states(session) == {"sent": 30}
    assert sorted(channels.delivered) == sorted(
        session.scalars(select(OutboxMessage.idempotency_key)))
    assert len(channels.deliveries) == 30  # nothing delivered twice, though some were sent twice
    assert sum(channels.requests.values()) > 30 and max(channels.requests.values()) >= 2
    assert totals["retrying"] >= 10
    texts = [m["text"] for m in channels.delivered.values()]
    assert all(t.startswith("【BrokerCare证券】") for t in texts)
    assert {m["to"] for m in channels.delivered.values()} == {p.phone for p in people}
    retried = session.scalars(select(OutboxMessage).where(OutboxMessage.attempts > 1)).all()
    assert retried and all(m.last_error is None and m.provider_message_id for m in retried)


def test_a_gateway_that_does_not_honour_keys_sees_the_duplicate(session, sessions, people, channels):
    """The counter-test: the same script against a gateway that ignores Idempotency-Key does
    deliver the timed-out message twice — which is why every request carries the key."""
    channels.configure(honour_keys=False)
    sms(session, people[0], 1)
    session.commit()
    channels.script("sms", "hang")
    drain(sessions)
    assert states(session) == {"sent": 1}
    assert len(channels.deliveries) == 2


def test_dead_letter_after_max_attempts_and_event(session, sessions, people, channels):
    seen = []
    get_bus().subscribe(MESSAGE_DEAD, seen.append, group="test")
    channels.configure(always_fail_to=[people[2].phone])
    sms(session, people[2], 1)
    sms(session, people[0], 2)
    session.commit()
    drain(sessions)

    dead = session.scalars(select(OutboxMessage).where(OutboxMessage.state == "dead")).one()
    assert dead.customer_id == people[2].id and dead.attempts == 4
    assert "HTTP 503" in dead.last_error and "运营商通道繁忙" in dead.last_error
    assert channels.requests[dead.idempotency_key] == 4
    assert states(session) == {"dead": 1, "sent": 1}
    assert [e.payload["message_id"] for e in seen] == [dead.id]
    assert seen[0].payload["origin_ref"] == "ticket:1"
    # Staff see it beside what it belongs to, and can send it again once the gateway recovers.
    got = service.delivery_states(session, origin="service", refs=["ticket:1", "ticket:2"])
    assert got["ticket:1"][0].delivered is False and got["ticket:2"][0].state == "sent"
    channels.configure(always_fail_to=[])
    service.retry(session, dead.id)
    session.commit()
    drain(sessions)
    assert states(session) == {"sent": 2}


def test_refused_recipient_is_dead_at_once(session, sessions, people, channels):
    channels.configure(refuse_to=[people[1].phone])
    sms(session, people[1], 1)
    session.commit()
    counts = service.dispatch_due(sessions)
    assert counts["dead"] == 1
    row = session.scalars(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.state == "dead" and row.attempts == 1 and "HTTP 400" in row.last_error


def test_customer_without_an_address_for_the_channel(session, sessions, people, channels):
    service.enqueue(session, channel="wechat", kind="reply", customer_id=people[2].id,
                    body="您好，您的问题已转交客户经理处理。", idempotency_key="reply:9", origin="service")
    session.commit()
    service.dispatch_due(sessions)
    row = session.scalars(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.state == "dead" and row.last_error == f"customer {people[2].id} has no wechat address on file"


def test_unconfigured_channel_holds_messages_and_says_why(session, sessions, people, monkeypatch):
    sms(session, people[0], 1)
    session.commit()
    counts = service.dispatch_due(sessions)
    assert counts["claimed"] == 0
    view = service.list_messages(session)[0]
    assert view.state == "pending" and view.attempts == 0
    assert view.note == "held: channel sms is not configured (set BROKERCARE_SMS_URL)"
    summary = {s.channel: s for s in service.summary(session)}
    assert summary["sms"].configured is False and summary["sms"].counts["pending"] == 1


def test_quiet_hours_hold_normal_messages_not_urgent_ones(session, sessions, people, channels):
    wang, li = people[0], people[1]
    service.set_quiet_hours(session, wang.id, start=clock(21, 30), end=clock(8, 0))
    sms(session, wang, 1)  # a survey: waits
    sms(session, wang, 2, kind="margin_call", urgent=True,
        body="【追保通知】您的维持担保比例为 128%，请于今日 15:00 前补足担保物。")
    sms(session, li, 3)  # no quiet hours: goes
    session.commit()
    late_evening = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    counts = service.dispatch_due(sessions, now=late_evening)
    assert counts["deferred"] == 1 and counts["sent"] == 2
    held = session.scalars(select(OutboxMessage).where(OutboxMessage.state == "pending")).one()
    session.refresh(held)
    assert held.idempotency_key == f"csat:ticket:{wang.id}:1" and held.attempts == 0
    assert held.next_attempt_at == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # 08:00 Beijing
    assert service.dispatch_due(sessions, now=late_evening + timedelta(hours=4))["claimed"] == 0
    assert service.dispatch_due(sessions, now=datetime(2026, 12, 8, 0, 1, tzinfo=UTC))["sent"] == 1
    assert states(session) == {"sent": 3}


def test_default_quiet_hours_apply_to_customers_without_their_own(session, sessions, people, channels, monkeypatch):
    monkeypatch.setenv("BROKERCARE_OUTBOX_QUIET_HOURS", "22:00-07:30")
    reset_settings()
    service.set_quiet_hours(session, people[1].id, start=clock(1, 0), end=clock(2, 0))
    for n, p in enumerate(people):
        sms(session, p, n)
    session.commit()
    counts = service.dispatch_due(sessions, now=datetime(2026, 12, 7, 14, 30, tzinfo=UTC))  # 22:30
    assert counts["deferred"] == 2 and counts["sent"] == 1
    assert [d.source for d in service.quiet_hours_of(session, [p.id for p in people]).values()] == [
        "default", "customer", "default"]


def test_expired_message_is_not_sent_late(session, sessions, people, channels):
    now = datetime.now(UTC)
    sms(session, people[0], 1, kind="otp", body="您的验证码为 482913，5 分钟内有效。",
        expires_at=now - timedelta(minutes=1))
    session.commit()
    service.dispatch_due(sessions)
    row = session.scalars(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.state == "dead" and "expired" in row.last_error and not channels.deliveries


def test_rate_limit_per_channel(session, sessions, people, channels, monkeypatch):
    dispatcher._buckets.clear()  # the buckets live as long as the process: start this test full
    monkeypatch.setenv("BROKERCARE_SMS_RATE_PER_S", "20")
    reset_settings()
    for n in range(50):
        sms(session, people[n % 3], n)
        service.enqueue(session, channel="app", kind="notice", customer_id=people[n % 3].id,
                        body="您关注的新股今日可申购", idempotency_key=f"push:{n}", origin="monitoring")
    session.commit()

    async def two_passes():
        d = dispatcher.Dispatcher(sessions)
        try:
            started = time.monotonic()
            first = await d.run_once()
            second = await d.run_once()
            return first, second, time.monotonic() - started
        finally:
            await d.aclose()

    first, second, took = asyncio.run(two_passes())
    assert first.sent == 50 + 20  # every push; SMS: one second's worth
    assert second.claimed <= 20 * took + 1  # then SMS only as fast as the rate refills
    drain(sessions)
    assert states(session) == {"sent": 100}
    sms_at = sorted(t for path, t in channels.arrivals if path == "sms")
    assert len(sms_at) == 50
    # The 30 after the first second's 20 need 1.5 s of refill (arrivals lag their claims a little).
    assert sms_at[-1] - sms_at[0] >= 1.0


def test_retry_after_is_honoured(session, sessions, people, channels):
    channels.script("sms", "429")  # answered with Retry-After: 1
    sms(session, people[0], 1)
    session.commit()
    before = datetime.now(UTC)
    assert service.dispatch_due(sessions, limit=1)["retrying"] == 1  # one pass
    row = session.scalars(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.state == "failed" and "HTTP 429" in row.last_error
    assert row.next_attempt_at - before >= timedelta(seconds=1)
    drain(sessions)
    assert states(session) == {"sent": 1} and len(channels.deliveries) == 1


def test_dispatch_from_a_thread_that_already_runs_an_event_loop(session, sessions, people, channels):
    """The browser tests' Playwright (and a notebook) keep a loop running on the main thread; the
    scheduler's synchronous entry point still sends, on a thread of its own."""
    for n in range(3):
        sms(session, people[n], n)
    session.commit()

    async def from_inside_a_loop():
        return service.dispatch_due(sessions)

    counts = asyncio.run(from_inside_a_loop())
    assert counts["sent"] == 3 and states(session) == {"sent": 3}
