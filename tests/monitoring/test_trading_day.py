"""A trading day, end to end, on the platform as a broker runs it (issue 12 item 6).

Real daily bars of six large caps up to 2024-09-30 are loaded with ``load-bars``; the platform is
served over real HTTP with its embedded outbox dispatcher pointed at a local SMS and push gateway;
``market feed`` replays the real-path minute bars of 8 October 2024 (the post-holiday limit-up open)
and then of the 9th (the sharp fall). After each close the post-close jobs run through the
scheduler, twice, as two schedulers would. The next morning the IPO reminder goes out with the quota
worked out from the market values the jobs stored. Checked: every holder's alert that was queued
reaches the gateway exactly once; the margin customer whose ratio falls through the warning line
gets the call with the contract's top-up deadline; each post-close job ran once per day; the
reminder's quota equals an independent computation from the replayed closes.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.market import real_bars
from tests.monitoring.brokerage import add_account, add_customer, hold, margin, small_brokerage
from tests.monitoring.test_scale_out import wait_for
from tests.outbox.gateways import HttpGateway
from tests.web.conftest import LiveServer

from brokercare.api import create_app
from brokercare.core import bus as bus_module
from brokercare.core.bus_redis import RedisStreamBus
from brokercare.core.calendar import SHANGHAI, add_trading_days
from brokercare.core.database import session_factory
from brokercare.core.models import JobRun, ProcessedEvent
from brokercare.core.schedule import parse
from brokercare.core.scheduler import JobScheduler
from brokercare.core.settings import reset_settings
from brokercare.customers.models import Customer
from brokercare.market import service as market
from brokercare.market.events import POSITION_EVENT
from brokercare.market.feed import replay
from brokercare.market.models import DailyBar
from brokercare.monitoring.bars import minute_bars
from brokercare.monitoring.ipo import quota_for, quota_window
from brokercare.monitoring.models import AlertPreference, IpoIssue, MarginCall
from brokercare.monitoring.worker import MonitorWorker
from brokercare.outbox.models import OutboxMessage
from brokercare.security.service import get_cipher, service_token

CODES = ["600519", "300750", "000001", "600036", "000651", "601318"]
DAYS = [date(2024, 10, 8), date(2024, 10, 9)]
NEXT_MORNING = date(2024, 10, 10)
POST_CLOSE = parse(
    "post_close:\n"
    "  - {job: market.close_day, at: '15:10'}\n"
    "  - {job: monitoring.ipo_market_values, at: '15:30'}\n"
    "pre_open:\n"
    "  - {job: monitoring.ipo_reminders, at: '08:30'}\n", "trading-day test")


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, time(hh, mm), SHANGHAI)


def history_file(tmp_path: Path) -> Path:
    frames = [real_bars.daily(c).with_columns(pl.lit(c).alias("code")) for c in CODES]
    path = tmp_path / "daily.csv"
    (pl.concat(frames).filter((pl.col("date") >= "2024-03-01") & (pl.col("date") <= "2024-09-30"))
     .select("date", "code", "open", "high", "low", "close", "volume", "amount").write_csv(path))
    return path


def day_file(tmp_path: Path, day: date) -> tuple[Path, dict[str, float]]:
    """The day's minute bars in the ``load-bars`` columns, and each code's last price (its close)."""
    bars = pl.from_pandas(minute_bars(CODES, day, day))
    path = tmp_path / f"minutes-{day}.csv"
    (bars.with_columns(open=pl.col("price"), high=pl.col("price"), low=pl.col("price"), close=pl.col("price"))
     .select("datetime", "code", "open", "high", "low", "close", "volume").write_csv(path))
    closes = bars.sort("datetime").group_by("code").agg(pl.col("price").last())
    return path, dict(zip(closes["code"].to_list(), closes["price"].to_list(), strict=True))


def brokerage(session: Session) -> tuple[int, int]:
    """30 customers holding the six stocks with alerts at 2 % in 30 minutes on the app and by SMS,
    a margin customer on 宁德时代, and an SH main-board IPO subscribing on the 10th."""
    small_brokerage(session, 30)
    c = add_customer(session, 99)
    m = add_account(session, c, "margin", cash="20000")
    hold(session, m, "300750.SZ", 1000, "230.00")
    contract = margin(session, m, "205000")
    cipher = get_cipher(session)
    for n, customer in enumerate(session.scalars(select(Customer)), start=1):
        customer.phone_enc = cipher.encrypt(f"1380013{n:04d}")
        session.add(AlertPreference(customer_id=customer.id, move_pct=Decimal("0.02"), window_min=30,
                                    channels=["app", "sms"]))
    session.add(IpoIssue(code="732688", symbol="603688.SH", name="石英股份", exchange="SH", board="main",
                         subscribe_on=NEXT_MORNING, price="18.50", max_shares=20000,
                         results_on=add_trading_days(NEXT_MORNING, 2), payment_on=add_trading_days(NEXT_MORNING, 2),
                         source="trading-day test"))
    session.commit()
    return contract.id, c.id


def sh_quota_expected(session: Session, customer_id: int, closes_by_day: dict[date, dict[str, float]]) -> int:
    """The quota from first principles: the customer's SH stock value at each replayed close inside
    the 20-day window (days without a stored value count as zero), averaged over 20 days."""
    from brokercare.accounts.models import Account, Position

    start, end = quota_window(NEXT_MORNING)
    held = session.execute(select(Position.symbol, Position.quantity).join(Account, Account.id == Position.account_id)
                           .where(Account.customer_id == customer_id)).all()
    total = sum(float(q) * closes[s[:6]] for day, closes in closes_by_day.items() if start <= day <= end
                for s, q in held if s.endswith(".SH") and s[:6] in closes)
    return quota_for("SH", "main", total / 20)


@pytest.fixture
def gateway(monkeypatch):
    gw = HttpGateway()
    for key, value in {"BROKERCARE_SMS_URL": f"{gw.url}/sms", "BROKERCARE_PUSH_URL": f"{gw.url}/push",
                       "BROKERCARE_DISPATCHER": "embedded", "BROKERCARE_SCHEDULER": "off",
                       "BROKERCARE_OUTBOX_TIMEOUT_S": "5", "BROKERCARE_OUTBOX_BACKOFF_S": "0.05"}.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield gw
    gw.close()


@contextmanager
def evaluated_by(bus: str, engine, redis_url: str | None, redis_prefix: str | None, monkeypatch):
    """``in_process``: the API process evaluates each snapshot it accepts (the embedded default);
    ``redis``: the API stores and publishes on Redis Streams and a monitoring worker evaluates."""
    if bus == "in_process":
        yield
        return
    monkeypatch.setenv("BROKERCARE_BUS_URL", redis_url)
    reset_settings()
    bus_module.set_bus(RedisStreamBus(redis_url, prefix=redis_prefix))
    worker_bus = RedisStreamBus(redis_url, prefix=redis_prefix, partitions={POSITION_EVENT: 1},
                                consumer="monitor-0", block_ms=100)
    MonitorWorker(worker_bus, 0, 1, session_factory()).start()
    stop = threading.Event()
    thread = threading.Thread(target=worker_bus.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        bus_module.set_bus(None)


def test_a_trading_day_runs_by_itself(engine, session, tmp_path, gateway):
    run_the_day(engine, session, tmp_path, gateway, nullcontext())


@pytest.mark.redis
def test_a_trading_day_scaled_out_on_redis(backend, engine, session, tmp_path, gateway, redis_url, redis_prefix,
                                            monkeypatch):
    if backend != "postgresql":
        pytest.skip("the scaled-out deployment runs on PostgreSQL")
    run_the_day(engine, session, tmp_path, gateway,
                evaluated_by("redis", engine, redis_url, redis_prefix, monkeypatch))


def run_the_day(engine, session, tmp_path, gateway, evaluation) -> None:
    contract_id, margin_customer = brokerage(session)
    market.load_bars(engine, history_file(tmp_path), "daily")
    token = service_token(session, "market_feed")
    scheduler = JobScheduler(engine=engine, schedule=POST_CLOSE)
    other = JobScheduler(engine=engine, schedule=POST_CLOSE)  # a second scheduler process
    closes_by_day = {}
    with evaluation:
        server = LiveServer(create_app())
        server.server.config.lifespan = "on"  # the evaluator and the dispatcher start with the app
        with server:
            deliver_the_day(engine, session, tmp_path, gateway, server.url, token, (scheduler, other),
                            closes_by_day)
    check_the_day(session, gateway, contract_id, margin_customer, scheduler, closes_by_day)


def deliver_the_day(engine, session, tmp_path, gateway, url, token, schedulers, closes_by_day) -> None:
    """Each day's minute bars through ``market feed``, its post-close jobs by both schedulers, and
    every queued alert delivered to the gateway by the platform's own dispatcher."""
    snapshots = 0
    for day in DAYS:
        minutes, closes_by_day[day] = day_file(tmp_path, day)
        report = replay(minutes, url, token, speed=0)
        assert report.ignored == 0 and report.batches == 240
        snapshots += report.batches
        wait_for(lambda n=snapshots: _evaluated(engine) >= n, 120, "the day's snapshots evaluated")
        for job, hh, mm in (("market.close_day", 15, 10), ("monitoring.ipo_market_values", 15, 30)):
            results = [s.fire(job=job, scheduled=at(day, hh, mm)) for s in schedulers]
            assert sum(r is not None for r in results) == 1  # one of the two ran it
    wait_for(lambda: _margin_calls(engine) > 0, 60, "the margin call")
    queued = set(session.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.origin == "monitoring")))
    assert len(queued) > 30
    wait_for(lambda: queued <= set(gateway.delivered), 120, "every queued alert delivered")
    assert all(n == 1 for key, n in gateway.requests.items() if key in queued)  # nothing sent twice


def _evaluated(engine) -> int:
    """Snapshots the evaluator has taken, in the API process or in the monitoring worker."""
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(ProcessedEvent).where(
            ProcessedEvent.consumer.in_(["monitor-live", "monitor-0"])))


def _margin_calls(engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count(MarginCall.id)))


def check_the_day(session, gateway, contract_id, margin_customer, scheduler, closes_by_day) -> None:
    # The margin customer's call, with the contract's two trading days to top up.
    session.expire_all()
    call = session.scalar(select(MarginCall).where(MarginCall.contract_id == contract_id).order_by(MarginCall.id))
    assert call is not None and call.line == "warning"
    deadline = add_trading_days(call.opened_at.astimezone(SHANGHAI).date(), 2)
    assert call.deadline == deadline
    sms = [m for key, m in gateway.delivered.items() if key.startswith("margin_") and "sms" in key]
    assert any(f"{deadline.month} 月 {deadline.day} 日" in str(m) for m in sms)

    # Each close became a daily bar; each post-close job ran once a day.
    closing = session.scalars(select(DailyBar).where(DailyBar.day == DAYS[1])).all()
    assert {b.symbol[:6] for b in closing} >= set(CODES)
    moutai = next(b for b in closing if b.symbol == "600519.SH")
    assert float(moutai.close) == pytest.approx(closes_by_day[DAYS[1]]["600519"], abs=0.01)
    runs = session.scalars(select(JobRun.job).where(
        JobRun.job.in_(["market.close_day", "monitoring.ipo_market_values"]))).all()
    assert sorted(runs) == sorted(["market.close_day", "monitoring.ipo_market_values"] * len(DAYS))

    # The next morning's reminder carries the quota from the stored closing values.
    assert scheduler.fire(job="monitoring.ipo_reminders", scheduled=at(NEXT_MORNING, 8, 30)) is not None
    holder = next(cid for cid in session.scalars(select(Customer.id).order_by(Customer.id))
                  if sh_quota_expected(session, cid, closes_by_day) > 0)
    expected = sh_quota_expected(session, holder, closes_by_day)
    note = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "ipo_subscription",
                                                      OutboxMessage.customer_id == holder))
    assert note is not None and f"最多可申购 {expected:,} 股" in note.body
    assert margin_customer != holder
