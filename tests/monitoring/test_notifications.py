"""The outbox: adapters, leases, receipts, and no loss when a dispatcher is killed mid-send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.monitoring.brokerage import add_customer

from brokercare.core.database import Base, make_engine
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.monitoring.models import Notification
from brokercare.monitoring.notifications import (
    NotifySettings,
    SpoolTransport,
    dispatch_once,
    inbox,
    mark_delivered,
    mark_read,
)

NOW = datetime(2026, 6, 16, 2, 30, tzinfo=UTC)


def queue(session, customer_id: int, n: int, channel: str = "app", **kw) -> None:
    for k in range(n):
        session.add(
            Notification(
                idempotency_key=f"test:{customer_id}:{channel}:{k}{kw.get('tag', '')}",
                customer_id=customer_id,
                channel=channel,
                kind="move_down",
                title="贵州茅台 10 分钟内下跌 5.3%",
                body="贵州茅台（600519）10 分钟内下跌 5.3%，现价 1420.00 元。您持有 200 股，这 10 分钟浮亏约 1.60 万元。",
                not_before=kw.get("not_before", NOW),
                created_at=NOW,
                urgent=kw.get("urgent", False),
            )
        )
    session.flush()


def test_channels_render_and_receipts(session, tmp_path):
    c = add_customer(session, 1)
    c.wechat_openid = "oWx_test_openid_001"
    other = add_customer(session, 2)
    queue(session, c.id, 1, "app")
    queue(session, c.id, 1, "sms")
    queue(session, c.id, 1, "wechat")
    queue(session, other.id, 1, "wechat")  # not bound to WeChat
    queue(session, c.id, 1, "app", not_before=NOW + timedelta(hours=1), tag="late")  # quiet hours
    session.commit()
    spool = SpoolTransport(tmp_path / "spool")
    sessions = sessionmaker(session.get_bind(), expire_on_commit=False)
    sent = dispatch_once(sessions, spool, settings=NotifySettings(), now=NOW)
    assert sent == 3
    session.expire_all()
    rows = {(n.customer_id, n.channel, n.status) for n in session.scalars(select(Notification))}
    assert (other.id, "wechat", "failed") in rows
    assert (c.id, "app", "pending") in rows  # the deferred one waits for its time
    sms = (tmp_path / "spool" / "sms.jsonl").read_text("utf-8")
    assert "【BrokerCare证券】贵州茅台" in sms and '"segments": 2' in sms
    wx = (tmp_path / "spool" / "wechat.jsonl").read_text("utf-8")
    assert "oWx_test_openid_001" in wx and '"first"' in wx
    app_row = session.scalar(
        select(Notification).where(Notification.channel == "app", Notification.status == "sent")
    )
    mark_delivered(session, app_row.provider_ref)
    assert app_row.status == "delivered"
    mark_read(session, app_row.id, c.id)
    assert app_row.status == "read" and app_row.read_at is not None
    assert [n.id for n in inbox(session, c.id)] == [app_row.id]
    with pytest.raises(NotFound):
        mark_read(session, app_row.id, other.id)  # another customer's message
    pending = session.scalar(select(Notification).where(Notification.status == "pending"))
    with pytest.raises(ValidationFailed):
        mark_read(session, pending.id, c.id)
    session.commit()
    # one hour later the deferred one goes out
    assert (
        dispatch_once(sessions, spool, settings=NotifySettings(), now=NOW + timedelta(hours=1)) == 1
    )


def test_gateway_failure_is_retried_after_the_lease(session, tmp_path):
    c = add_customer(session, 1)
    queue(session, c.id, 2)
    session.commit()
    sessions = sessionmaker(session.get_bind(), expire_on_commit=False)

    class Flaky(SpoolTransport):
        fail = True

        def send(self, channel, request, key):
            if self.fail:
                raise ConnectionError("gateway timeout")
            return super().send(channel, request, key)

    t = Flaky(tmp_path / "spool")
    settings = NotifySettings(lease_s=30)
    assert dispatch_once(sessions, t, settings=settings, now=NOW) == 0
    t.fail = False
    assert (
        dispatch_once(sessions, t, settings=settings, now=NOW + timedelta(seconds=10)) == 0
    )  # leased
    assert dispatch_once(sessions, t, settings=settings, now=NOW + timedelta(seconds=31)) == 2
    session.expire_all()
    assert {n.attempts for n in session.scalars(select(Notification))} == {2}


def test_outbox_survives_a_killed_dispatcher(tmp_path):
    db = tmp_path / "outbox.db"
    engine = make_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        c = add_customer(s, 1)
        queue(s, c.id, 60, not_before=datetime(2020, 1, 1, tzinfo=UTC))
        s.commit()
    env = dict(os.environ)
    env.update(
        BROKERCARE_DATABASE_URL=f"sqlite:///{db}",
        BROKERCARE_DATA_DIR=str(tmp_path / "data"),
        BROKERCARE_MONITOR_RATE_PER_S="40",
        BROKERCARE_MONITOR_LEASE_S="1",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    cmd = [sys.executable, "-m", "brokercare.monitoring.notifications"]
    spool = SpoolTransport(tmp_path / "data" / "outbox")

    def sent() -> int:
        with Session(engine) as s:
            return s.scalar(
                select(func.count()).select_from(Notification).where(Notification.status == "sent")
            )

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while sent() < 15 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert 15 <= sent() < 60
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while sent() < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert sent() == 60  # nothing lost
    keys = spool.delivered_keys("app")
    assert set(keys) == {f"test:1:app:{k}" for k in range(60)}
    assert (
        len(keys) - len(set(keys)) <= 1
    )  # at most the one in flight at the kill is handed over twice
    engine.dispose()
