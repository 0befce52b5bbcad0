"""Live quotes in, alerts out: the embedded platform and the Redis workers reach the same alerts.

The brokerage holds six real large caps; their real daily bars up to 2024-09-30 are loaded with
``load-bars``, then the 8-9 October 2024 sessions (the post-holiday limit-up open, then the sharp
fall) are replayed minute by minute through ``POST /api/v1/market/quotes`` over real HTTP, once with
no Redis (the API process evaluates each snapshot) and once with the Redis bus and a monitoring
worker (the API only stores and publishes). Minute paths come from each day's real open, high, low,
close and volume (``monitoring.bars``).
"""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from tests.monitoring.brokerage import add_account, add_customer, hold, margin, small_brokerage
from tests.monitoring.test_scale_out import wait_for
from tests.web.conftest import LiveServer

from brokercare.api import create_app
from brokercare.core import bus as bus_module
from brokercare.core.bus_redis import RedisStreamBus
from brokercare.core.database import session_factory
from brokercare.core.models import ProcessedEvent
from brokercare.customers.models import Customer
from brokercare.market import service as market
from brokercare.market.events import POSITION_EVENT
from brokercare.market.feed import replay
from brokercare.market.models import MinuteBar, Quote
from brokercare.monitoring.bars import minute_bars
from brokercare.monitoring.models import (
    Alert,
    AlertPreference,
    MarginCall,
    MarketTemperature,
)
from brokercare.monitoring.worker import MonitorWorker
from brokercare.outbox.models import OutboxMessage
from brokercare.security.service import service_token

SHARED = Path("/work/shared/data/market/a_share_daily_qfq_2010_2026/stocks")
CODES = ["600519", "300750", "000001", "600036", "000651", "601318"]


def daily_file(tmp_path: Path) -> Path:
    frames = [pl.read_csv(SHARED / f"{c}.csv", infer_schema=False).with_columns(pl.lit(c).alias("code"))
              for c in CODES]
    path = tmp_path / "daily.csv"
    (pl.concat(frames).filter((pl.col("date") >= "2024-03-01") & (pl.col("date") <= "2024-09-30"))
     .select("date", "code", "open", "high", "low", "close", "volume", "amount").write_csv(path))
    return path


def minutes_file(tmp_path: Path) -> Path:
    bars = pl.from_pandas(minute_bars(CODES, date(2024, 10, 8), date(2024, 10, 9)))
    bars = bars.filter((pl.col("datetime") < "2024-10-08 10:31") | (pl.col("datetime") >= "2024-10-09"))
    path = tmp_path / "minutes.csv"
    (bars.with_columns(open=pl.col("price"), high=pl.col("price"), low=pl.col("price"), close=pl.col("price"))
     .select("datetime", "code", "open", "high", "low", "close", "volume").write_csv(path))
    return path


def brokerage(session: Session) -> int:
    """Customers holding the six stocks (alerts at 2 % within 30 minutes), and a margin customer
    whose ratio falls through the warning line as 宁德时代 drops on the 9th."""
    small_brokerage(session, 30)
    c = add_customer(session, 99)
    m = add_account(session, c, "margin", cash="20000")
    hold(session, m, "300750.SZ", 1000, "230.00")
    contract = margin(session, m, "205000")
    for cid in session.scalars(select(Customer.id)):
        session.add(AlertPreference(customer_id=cid, move_pct=Decimal("0.02"), window_min=30))
    session.commit()
    return contract.id


def outcome(engine) -> dict:
    with Session(engine) as s:
        return {
            "alerts": sorted(s.execute(select(Alert.dedup_key, Alert.rule, Alert.customer_id, Alert.fired_at))),
            "notifications": sorted(s.scalars(select(OutboxMessage.idempotency_key))),
            "margin_calls": sorted(s.execute(select(MarginCall.dedup_key, MarginCall.line, MarginCall.deadline))),
            "temperatures": sorted(s.execute(select(MarketTemperature.board, MarketTemperature.minute,
                                                    MarketTemperature.score))),
        }


def reset_live_state(engine) -> None:
    """Back to the morning of the 8th: the day's quotes and everything evaluated are gone."""
    with Session(engine) as s:
        for model in (OutboxMessage, Alert, MarginCall, MarketTemperature, ProcessedEvent, MinuteBar, Quote):
            s.execute(delete(model))
        s.commit()


def feed_through_api(engine, minutes: Path) -> int:
    with Session(engine) as s:
        token = service_token(s, "market_feed")
    server = LiveServer(create_app())
    server.server.config.lifespan = "on"  # the domains' start-up: where the evaluator subscribes
    with server:
        report = replay(minutes, server.url, token, speed=0)
    assert report.ignored == 0
    return report.batches


@pytest.mark.redis
def test_embedded_and_redis_paths_record_the_same_alerts(engine, tmp_path, redis_url, redis_prefix, monkeypatch):
    with Session(engine) as s:
        stretched = brokerage(s)
    daily, minutes = daily_file(tmp_path), minutes_file(tmp_path)
    market.load_bars(engine, daily, "daily")

    # 1. embedded: no Redis, the API process evaluates every snapshot it accepts
    snapshots = feed_through_api(engine, minutes)
    embedded = outcome(engine)
    assert {r for _k, r, _c, _t in embedded["alerts"]} >= {"limit_up", "move_down"}
    calls = embedded["margin_calls"]
    # only the stretched contract is called: warned on the 8th (top up by T+2), liquidation line on the 9th
    assert {key.split(":")[1] for key, _line, _d in calls} == {str(stretched)}
    first = min(calls, key=lambda c: c[0].split(":")[2])
    assert first[1:] == ("warning", date(2024, 10, 10))
    assert ("liquidation", date(2024, 10, 11)) in {c[1:] for c in calls}
    assert embedded["notifications"]

    # 2. scaled out: the API stores and publishes on Redis, a monitoring worker evaluates
    reset_live_state(engine)
    market.load_bars(engine, daily, "daily")  # the closes of 30 September are the latest quotes again
    monkeypatch.setenv("BROKERCARE_BUS_URL", redis_url)
    bus_module.set_bus(RedisStreamBus(redis_url, prefix=redis_prefix))
    worker_bus = RedisStreamBus(redis_url, prefix=redis_prefix, partitions={POSITION_EVENT: 1},
                                consumer="monitor-0", block_ms=100)
    worker = MonitorWorker(worker_bus, 0, 1, session_factory())
    worker.start()
    stop = threading.Event()
    thread = threading.Thread(target=worker_bus.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert feed_through_api(engine, minutes) == snapshots

        def done() -> bool:
            with Session(engine) as s:
                return s.scalar(select(func.count()).select_from(ProcessedEvent)
                                .where(ProcessedEvent.consumer == "monitor-0")) == snapshots
        wait_for(done, 120, "the worker to evaluate every snapshot")
        with Session(engine) as s:  # the API process evaluated nothing itself
            assert s.scalar(select(func.count()).select_from(ProcessedEvent)
                            .where(ProcessedEvent.consumer == "monitor-live")) == 0
    finally:
        stop.set()
        thread.join(10)
    assert outcome(engine) == embedded
