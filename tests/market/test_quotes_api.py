"""Live quotes over real HTTP: a market-data gateway posts snapshots, people read prices with their
time, ``brokercare market feed`` replays real minute bars, and holdings are valued at the quote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import polars as pl
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.market import real_bars
from tests.monitoring.brokerage import add_account, add_customer, hold
from tests.relationships import serve
from tests.web.conftest import LiveServer
from typer.testing import CliRunner

from brokercare.accounts.service import net_assets_by_customer, positions_of
from brokercare.api import create_app
from brokercare.cli import app as cli
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.market import service as market
from brokercare.market.models import MinuteBar, Quote
from brokercare.security import auth
from brokercare.security.service import create_user, get_cipher, service_token

MINUTES = Path(__file__).parents[2] / "src/brokercare/monitoring/data/600519_1min_2026-03.csv"
PASSWORD = "Passw0rd2026"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def platform(engine, tmp_path):
    """The shipped instrument master, 贵州茅台's real daily bars to Friday 2026-03-20, an agent, a customer
    holding 300 shares, and the platform served on a loopback port."""
    market.load_instruments(engine)
    daily = tmp_path / "moutai.csv"
    (real_bars.daily("600519")
     .filter(pl.col("date").is_between(pl.lit("2026-01-01"), pl.lit("2026-03-20")))
     .with_columns(pl.lit("600519").alias("code")).write_csv(daily))
    market.load_bars(engine, daily, "daily")
    with Session(engine) as s:
        agent = create_user(s, username="agent01", password=PASSWORD, role="agent", display_name="陈晓明")
        cipher = get_cipher(s)
        customer = add_customer(s, 1)
        customer.id_number_enc = cipher.encrypt("110101199003074512")
        customer.phone_enc = cipher.encrypt("13812345678")
        hold(s, add_account(s, customer), "600519.SH", 300, "1500.00")
        s.commit()
        serve(s, agent, customer.id)  # the agent is serving this customer's chat: may open their page
        token = service_token(s, "market_feed")
        customer_id = customer.id
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/api/v1/auth/token", data={"username": "agent01", "password": PASSWORD})
        yield {"http": http, "url": server.url, "feed": {"Authorization": f"Bearer {token}"},
               "agent": {"Authorization": f"Bearer {r.json()['access_token']}"}, "customer": customer_id}


def test_a_gateway_posts_snapshots_and_people_read_the_price_with_its_time(platform, engine):
    http, feed, agent = platform["http"], platform["feed"], platform["agent"]
    closed = http.get("/api/v1/market/quotes/600519", headers=agent).json()
    assert closed["source"] == "close" and closed["stale"] is True  # March's close, months ago
    assert datetime.fromisoformat(closed["time"]).astimezone(SHANGHAI).strftime("%m-%d %H:%M") == "03-20 15:00"
    assert "非最新" in closed["label"]

    now = utcnow().replace(microsecond=0)
    snapshot = {"quotes": [{"code": "600519", "time": now.isoformat(), "price": 1388.5, "volume": 1_234_500},
                           {"code": "sz000858", "time": now.isoformat(), "price": 121.3, "volume": 2_000_000}]}
    assert http.post("/api/v1/market/quotes", json=snapshot, headers=agent).status_code == 403
    r = http.post("/api/v1/market/quotes", json=snapshot, headers=feed)
    assert r.status_code == 200 and r.json()["accepted"] == 2
    again = http.post("/api/v1/market/quotes", json=snapshot, headers=feed).json()
    assert (again["accepted"], again["ignored"]) == (0, 2)  # idempotent by code and time
    late = {"quotes": [{"code": "600519", "time": (now - timedelta(seconds=30)).isoformat(), "price": 1.0}]}
    assert http.post("/api/v1/market/quotes", json=late, headers=feed).json()["ignored"] == 1

    live = http.get("/api/v1/market/quotes/600519.SH", headers=agent).json()
    assert Decimal(live["price"]) == Decimal("1388.5") and live["source"] == "feed" and live["stale"] is False
    assert datetime.fromisoformat(live["time"]) == now
    assert Decimal(live["prev_close"]) == Decimal(closed["price"])  # the last loaded close

    bad = {"quotes": [{"code": "600036", "time": (now + timedelta(seconds=3)).isoformat(), "price": 35.1},
                      {"code": "60003", "time": (now + timedelta(seconds=3)).isoformat(), "price": 35.1}]}
    r = http.post("/api/v1/market/quotes", json=bad, headers=feed)
    assert r.status_code == 422 and "quotes[1]" in r.json()["detail"]
    with Session(engine) as s:  # nothing of the refused batch was stored
        assert s.get(Quote, "600036.SH") is None


def test_holdings_are_valued_at_the_latest_quote_with_its_time(platform, engine):
    with Session(engine) as s:
        (before,) = positions_of(s, platform["customer"])
    assert before.price_stale and before.price_at is not None
    now = utcnow().replace(microsecond=0)
    platform["http"].post("/api/v1/market/quotes", headers=platform["feed"],
                          json={"quotes": [{"code": "600519.SH", "time": now.isoformat(), "price": 1401.2}]})
    with Session(engine) as s:
        (after,) = positions_of(s, platform["customer"])
        net = {n.customer_id: n for n in net_assets_by_customer(s)}[platform["customer"]]
    assert after.last_price == Decimal("1401.2") and after.market_value == Decimal("420360.00")
    assert after.price_at == now and not after.price_stale
    # the tiers' set-based valuation reads the same price: cash 10,000 + the holding
    assert net.assets == Decimal("430360.00")


def test_feed_replays_real_minute_bars_on_the_platform_host_without_a_token(platform, engine, tmp_path):
    bars = (pl.read_csv(MINUTES, infer_schema=False).filter(pl.col("datetime") < "2026-03-24")
            .rename({"price": "close"}).with_columns(pl.col("close").alias("open"))
            .select("datetime", "code", "open", "high", "low", "close", "volume"))
    path = tmp_path / "600519_2026-03-23.csv"
    bars.write_csv(path)
    result = CliRunner().invoke(cli, ["market", "feed", str(path), "--url", platform["url"]])
    assert result.exit_code == 0, result.output
    assert f"{bars.height:,} snapshots" in result.output and f"({bars.height:,} new," in result.output
    again = CliRunner().invoke(cli, ["market", "feed", str(path), "--url", platform["url"]])
    assert f"0 new, {bars.height:,} already there" in again.output
    with Session(engine) as s:
        quote = s.get(Quote, "600519.SH")
        day_bars = s.scalar(select(func.count()).select_from(MinuteBar).where(MinuteBar.symbol == "600519.SH"))
        volume = s.scalar(select(func.sum(MinuteBar.volume)).where(MinuteBar.symbol == "600519.SH"))
    last = bars.tail(1).row(0, named=True)
    assert quote.price == Decimal(last["close"]) and quote.source == "feed"
    assert quote.time == datetime.fromisoformat(last["datetime"]).replace(tzinfo=SHANGHAI).astimezone(UTC)
    assert day_bars == bars.height  # one stored bar per replayed minute
    assert volume == pytest.approx(bars["volume"].cast(pl.Float64).sum())


def test_feed_to_a_platform_that_is_not_there_says_so(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("datetime,code,open,high,low,close,volume\n2026-03-23 09:31:00,600519,1433,1435,1429,1431,74100\n")
    result = CliRunner().invoke(cli, ["market", "feed", str(path), "--url", "http://127.0.0.1:9", "--token", "x"])
    assert result.exit_code == 1 and "cannot reach" in result.output


def test_the_workbench_says_when_a_customers_prices_are_not_live(platform):
    http = platform["http"]
    http.post("/login", data={"username": "agent01", "password": PASSWORD})
    page = http.get(f"/workbench/customers/{platform['customer']}").text
    assert "价格截至 03-20 15:00，非实时" in page  # the last loaded close, not today's market
    now = utcnow().replace(microsecond=0)
    http.post("/api/v1/market/quotes", headers=platform["feed"],
              json={"quotes": [{"code": "600519", "time": now.isoformat(), "price": 1401.2}]})
    page = http.get(f"/workbench/customers/{platform['customer']}").text
    assert f"价格截至 {now.astimezone(SHANGHAI):%H:%M}" in page and "非实时" not in page
    assert "420,360.00" in page
