"""Several dispatcher processes on one outbox: none sends a message another claimed, and the
messages of a dispatcher killed mid-send are sent by the next once its lease runs out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import select
from tests.outbox.test_dispatch import drain, states

from brokercare.outbox import service
from brokercare.outbox.models import OutboxMessage
from brokercare.outbox.schemas import NewMessage

BROKERCARE = os.path.join(os.path.dirname(sys.executable), "brokercare")


def fill(session, people, n):
    service.enqueue_many(session, [
        NewMessage(channel="sms" if i % 2 else "app", kind="move_down", customer_id=people[i % 3].id,
                   origin="monitoring", origin_ref=f"alert:{i}", idempotency_key=f"alert:{i}",
                   body=f"您持有的宁德时代 10 分钟内下跌 5.2%，现价 190.10 元（提醒 {i}）")
        for i in range(n)])
    session.commit()


def environment(engine, **extra) -> dict[str, str]:
    env = dict(os.environ, BROKERCARE_DATABASE_URL=engine.url.render_as_string(hide_password=False),
               BROKERCARE_OUTBOX_CONCURRENCY="4", **extra)
    return env


def test_two_dispatchers_never_send_the_same_message(engine, session, sessions, people, channels):
    channels.configure(latency_s=0.02)
    channels.configure(honour_keys=False)  # count real sends: a duplicate would show
    fill(session, people, 1000)  # at least 5 s of sending: both processes are up by then
    runs = [subprocess.Popen([BROKERCARE, "outbox", "dispatch", "--once", "--batch", "20"],
                             env=environment(engine), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    counts = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        counts.append(json.loads(out.strip().splitlines()[-1]))

    assert states(session) == {"sent": 1000}
    assert len(channels.deliveries) == 1000 and set(channels.requests.values()) == {1}
    assert sum(c["sent"] for c in counts) == 1000
    assert all(c["sent"] > 0 for c in counts), counts  # both worked, side by side


def test_killed_dispatcher_loses_nothing(engine, session, sessions, people, channels):
    channels.configure(latency_s=0.05)
    fill(session, people, 200)
    env = environment(engine, BROKERCARE_OUTBOX_LEASE_S="2")
    run = subprocess.Popen([BROKERCARE, "outbox", "dispatch", "--batch", "40"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(channels.deliveries) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.kill(run.pid, signal.SIGKILL)  # mid-batch: some messages sent, none recorded
        run.wait(10)
    delivered_at_kill = set(channels.deliveries)
    with sessions() as s:
        in_flight = list(s.scalars(select(OutboxMessage.idempotency_key)
                                   .where(OutboxMessage.state == "sending")))
    assert in_flight

    time.sleep(2.1)  # the lease runs out
    drain(sessions, seconds=60)
    assert states(session) == {"sent": 200}
    assert len(channels.deliveries) == 200  # the gateway dropped the re-sent ones by their key
    requests = channels.requests
    delivered_before_kill = [k for k in in_flight if k in delivered_at_kill]
    assert delivered_before_kill and all(requests[k] >= 2 for k in delivered_before_kill)
    attempts = dict(session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.attempts)).all())
    assert all(attempts[k] >= 2 for k in in_flight)  # claimed again after the lease
