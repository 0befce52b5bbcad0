"""Two monitoring workers on the real Redis: every alert exactly once, none missed, across a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.monitoring.brokerage import small_brokerage

from brokercare.core.bus import Event
from brokercare.core.bus_redis import RedisStreamBus
from brokercare.core.database import Base, make_engine
from brokercare.core.models import ProcessedEvent
from brokercare.market.quotes import SNAPSHOT_EVENT, snapshot_payload
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.models import Alert
from brokercare.monitoring.service import load_book, load_universe, market_info, record_findings
from brokercare.outbox.models import OutboxMessage

pytestmark = pytest.mark.redis

START = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)  # 10:00 Beijing
N = 90  # one snapshot every 30 s: 10:00 .. 10:44:30
# scripted moves: (symbol, minute the slide starts, minute it ends, total factor)
PATHS = [
    ("600519.SH", 5, 9, 0.94),  # -6 % in 4 minutes
    ("000651.SZ", 18, 26, 0.935),  # -6.5 % over 8 minutes: straddles the kill
    ("300750.SZ", 30, 31, 0.80),  # ChiNext limit-down: margin accounts cross their lines
    ("000001.SZ", 35, 39, 1.07),  # +7 %
]


def seeded_engine(path: Path):
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        small_brokerage(s, 60)
        s.commit()
    return engine


def snapshot_series(universe):
    rng = np.random.default_rng(5)
    base = np.array([float(u.last_price) for u in universe])
    sym = [u.symbol for u in universe]
    out = []
    volumes = np.zeros(len(universe))
    for i in range(N):
        t = START + timedelta(seconds=30 * i)
        minute = i / 2
        factor = np.ones(len(universe))
        for code, m0, m1, total in PATHS:
            share = min(max((minute - m0) / (m1 - m0), 0.0), 1.0)
            factor[sym.index(code)] = 1 + (total - 1) * share
        noise = np.exp(rng.normal(0, 0.0005, len(universe)))
        prices = np.round(base * factor * noise, 2)
        volumes = volumes + 1000
        out.append((t, prices, volumes.copy()))
    return sym, out


def reference_keys(path: Path) -> tuple[set[str], set[str]]:
    engine = seeded_engine(path)
    with Session(engine) as s:
        universe = load_universe(s)
        book = load_book(s, universe=universe)
        ev = Evaluator(book, market_info(universe, START.date()))
        _, series = snapshot_series(universe)
        for t, prices, vols in series:
            f = ev.evaluate(Snapshot(t, prices, vols))
            record_findings(s, book, f, ev.last_price)
        s.commit()
        alerts = set(s.scalars(select(Alert.dedup_key)))
        notes = set(s.scalars(select(OutboxMessage.idempotency_key)))
    engine.dispose()
    return alerts, notes


def start_worker(shard: int, db: Path, redis_url: str, prefix: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["BROKERCARE_DATABASE_URL"] = f"sqlite:///{db}"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "brokercare.monitoring.worker",
            "--shard",
            str(shard),
            "--shards",
            "2",
            "--bus-url",
            redis_url,
            "--prefix",
            prefix,
            "--min-idle-ms",
            "1000",
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def processed(engine, consumer: str) -> int:
    with Session(engine) as s:
        return s.scalar(
            select(func.count())
            .select_from(ProcessedEvent)
            .where(ProcessedEvent.consumer == consumer)
        )


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_every_alert_once_across_a_kill(tmp_path, redis_url, redis_prefix):
    expected_alerts, expected_notes = reference_keys(tmp_path / "reference.db")
    assert len(expected_alerts) > 30  # the script really fires holding and margin alerts
    assert any(k.startswith("margin_liquidation") for k in expected_alerts)
    assert any(k.startswith("move_down") and "000651.SZ" in k for k in expected_alerts)

    db = tmp_path / "live.db"
    engine = seeded_engine(db)
    with Session(engine) as s:
        universe = load_universe(s)
    sym, series = snapshot_series(universe)
    bus = RedisStreamBus(redis_url, prefix=redis_prefix)
    events = [Event(SNAPSHOT_EVENT, snapshot_payload(t, sym, p, v)) for t, p, v in series]
    log = tmp_path / "workers.log"
    workers = {k: start_worker(k, db, redis_url, redis_prefix, log) for k in (0, 1)}
    try:
        half = N // 2
        bus.publish_many(events[:half])
        # kill while 000651 is sliding: the restarted worker needs the window it had built
        wait_for(lambda: processed(engine, "monitor-0") >= 38, 60, "worker 0 to reach 10:19")
        workers[0].send_signal(signal.SIGKILL)  # dies mid-stream, possibly mid-transaction
        workers[0].wait(10)
        killed_at = processed(engine, "monitor-0")
        assert killed_at < N
        bus.publish_many(events[half:])
        workers[0] = start_worker(0, db, redis_url, redis_prefix, log)
        wait_for(
            lambda: processed(engine, "monitor-0") == N and processed(engine, "monitor-1") == N,
            90,
            "both shards to process every snapshot",
        )
    finally:
        for w in workers.values():
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers.values():
            try:
                w.wait(10)
            except subprocess.TimeoutExpired:
                w.kill()
    with Session(engine) as s:
        got = list(s.scalars(select(Alert.dedup_key)))
        notes = set(s.scalars(select(OutboxMessage.idempotency_key)))
    assert len(got) == len(set(got))  # exactly once
    assert set(got) == expected_alerts, (log.read_text()[-3000:], set(got) ^ expected_alerts)
    assert notes == expected_notes  # and each alert's outbox rows, written in the same transaction
    assert bus.pending_count("monitor-0", SNAPSHOT_EVENT) == 0
    assert bus.pending_count("monitor-1", SNAPSHOT_EVENT) == 0
    engine.dispose()
