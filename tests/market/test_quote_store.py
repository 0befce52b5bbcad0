"""The quote store and ``load-bars``, on real A-share bars (the shipped file, see tests/market/real_bars.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.market import real_bars

from brokercare.core.bulkimport import ImportRejected
from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import ValidationFailed
from brokercare.market import service as market
from brokercare.market import store
from brokercare.market.models import DailyBar, MinuteBar, Quote

MINUTES = Path(__file__).parents[2] / "src/brokercare/monitoring/data/600519_1min_2026-03.csv"
CODES = ("600519", "000858", "300750", "601318")


def real_daily(tmp_path: Path, since: str = "2026-04-01", codes=CODES) -> tuple[Path, pl.DataFrame]:
    """The real forward-adjusted daily bars of a few large caps, as a broker's export would be."""
    frames = [real_bars.daily(c)
              .with_columns(pl.lit(c).alias("code")) for c in codes]
    df = pl.concat(frames).filter(pl.col("date") >= since).select(
        "date", "code", "open", "high", "low", "close", "volume", "amount")
    path = tmp_path / "daily.csv"
    df.write_csv(path)
    return path, df


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_daily_bars_load_once_and_set_the_last_close_as_the_latest_quote(engine, tmp_path):
    path, df = real_daily(tmp_path)
    report = market.load_bars(engine, path, "daily")
    assert report.inserted == df.height and report.updated == 0
    again = market.load_bars(engine, path, "daily")
    assert again.inserted == 0 and again.updated == df.height
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(DailyBar)) == df.height
        moutai = s.get(Quote, "600519.SH")
    last = df.filter(pl.col("code") == "600519").sort("date").tail(2)
    assert moutai.source == "close"
    assert moutai.price == Decimal(last["close"][1]).quantize(Decimal("0.0001"))
    assert moutai.prev_close == Decimal(last["close"][0]).quantize(Decimal("0.0001"))
    assert moutai.time == datetime.combine(date.fromisoformat(last["date"][1]), store.CLOSE_TIME,
                                           tzinfo=SHANGHAI).astimezone(UTC)


def test_a_bad_row_loads_nothing_and_is_reported_by_its_line(engine, tmp_path):
    path, df = real_daily(tmp_path)
    lines = path.read_text().splitlines()
    cells = lines[5].split(",")
    cells[3] = "1.00"  # high below open and close
    lines[5] = ",".join(cells)
    lines[9] = lines[9].replace(lines[9].split(",")[1], "60051", 1)
    lines.append(lines[2])  # the same code and day twice
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRejected) as caught:
        market.load_bars(engine, path, "daily")
    errors = {e.row: e.reason for e in caught.value.report.errors}
    assert set(errors) == {6, 10, len(lines)}
    assert "do not contain open" in errors[6]
    assert "60051" in errors[10]
    assert "earlier row" in errors[len(lines)]
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(DailyBar)) == 0
        assert s.scalar(select(func.count()).select_from(Quote)) == 0


def test_a_file_without_its_columns_is_refused(engine, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("日期,代码,收盘\n2026-06-16,600519,1400\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="missing column"):
        market.load_bars(engine, path, "daily")


def test_real_minute_bars_load_from_parquet(engine, tmp_path):
    bars = (pl.read_csv(MINUTES, infer_schema=False)
            .rename({"price": "close"})
            .with_columns(pl.col("close").alias("open"))
            .select("datetime", "code", "open", "high", "low", "close", "volume"))
    path = tmp_path / "minutes.parquet"
    bars.write_parquet(path)
    report = market.load_bars(engine, path, "1min")
    assert report.inserted == bars.height
    with Session(engine) as s:
        first = s.scalars(select(MinuteBar).order_by(MinuteBar.time)).first()
    assert first.time == at(bars["datetime"][0]).astimezone(UTC)
    assert first.symbol == "600519.SH" and first.minutes == 1


def test_live_ticks_are_idempotent_and_an_older_one_is_ignored(engine, tmp_path):
    path, df = real_daily(tmp_path, since="2026-06-01")
    market.load_bars(engine, path, "daily")
    prev = float(df.filter(pl.col("code") == "600519")["close"][-1])
    ticks = [store.Tick("600519.SH", at("2026-06-17 09:30:03"), prev * 1.01, 12_300),
             store.Tick("600519.SH", at("2026-06-17 09:30:45"), prev * 1.02, 30_000),
             store.Tick("600519.SH", at("2026-06-17 09:31:20"), prev * 0.995, 41_000)]
    with engine.begin() as conn:
        first = store.ingest(conn, ticks)
    with engine.begin() as conn:
        again = store.ingest(conn, ticks)
        late = store.ingest(conn, [store.Tick("600519.SH", at("2026-06-17 09:31:00"), 1.0, 35_000)])
    assert len(first.accepted) == 3 and again.accepted == [] and again.ignored == 3
    assert late.accepted == [] and late.ignored == 1
    with Session(engine) as s:
        quote = s.get(Quote, "600519.SH")
        bars = s.scalars(select(MinuteBar).where(MinuteBar.symbol == "600519.SH")
                         .where(MinuteBar.time >= at("2026-06-17 09:00:00")).order_by(MinuteBar.time)).all()
    assert quote.source == "feed" and quote.price == Decimal(str(round(prev * 0.995, 4)))
    assert quote.prev_close == Decimal(str(prev))  # yesterday's loaded close
    assert [b.time for b in bars] == [at("2026-06-17 09:31:00"), at("2026-06-17 09:32:00")]
    assert float(bars[0].high) == pytest.approx(prev * 1.02, abs=1e-4)
    assert (bars[0].volume, bars[1].volume) == (30_000, 11_000)


def test_a_full_market_snapshot_stores_every_quote_and_bar(engine):
    """A gateway's snapshot of 1,200 stocks (bulk path: PostgreSQL copies it in), then the next one
    30 s later and a late copy of the first: the latest quote per stock is the second snapshot's,
    each stock's 09:31 bar spans both, and the late copy changes nothing."""
    symbols = [f"{600000 + i:06d}.SH" for i in range(1200)]
    first = [store.Tick(s, at("2026-06-17 09:30:10"), 10 + i / 100, 1_000 + i) for i, s in enumerate(symbols)]
    second = [store.Tick(s, at("2026-06-17 09:30:40"), 10 + i / 100 + (0.05 if i % 2 else -0.05), 2_500 + i)
              for i, s in enumerate(symbols)]
    with engine.begin() as conn:
        store.ingest(conn, first)
    with engine.begin() as conn:
        assert len(store.ingest(conn, second).accepted) == 1200
        assert store.ingest(conn, first).ignored == 1200
    with Session(engine) as s:
        quotes = {q.symbol: q for q in s.scalars(select(Quote))}
        bars = {b.symbol: b for b in s.scalars(select(MinuteBar))}
    assert len(quotes) == len(bars) == 1200
    for i, sym in enumerate(symbols):
        low, high = sorted((10 + i / 100, 10 + i / 100 + (0.05 if i % 2 else -0.05)))
        assert float(quotes[sym].price) == pytest.approx(second[i].price, abs=1e-4)
        assert int(quotes[sym].volume) == 2_500 + i
        bar = bars[sym]
        assert bar.time == at("2026-06-17 09:31:00")
        assert (float(bar.open), float(bar.close)) == pytest.approx((first[i].price, second[i].price), abs=1e-4)
        assert (float(bar.low), float(bar.high)) == pytest.approx((low, high), abs=1e-4)
        assert bar.volume == 2_500 + i  # the day's cumulative volume so far


def test_health_names_a_feed_that_stopped_posting_during_the_session(engine, session):
    from brokercare.market import health

    with engine.begin() as conn:
        store.ingest(conn, [store.Tick("600519.SH", at("2026-06-15 09:58:00"), 1420.0, 3_000_000)])
    assert health.warnings(session, at("2026-06-15 10:01:00")) == []  # three minutes: still live
    (stale,) = health.warnings(session, at("2026-06-15 10:20:00"))
    assert "2026-06-15 09:58" in stale and "gateway" in stale
    assert health.warnings(session, at("2026-06-15 12:00:00")) != []  # lunch: the 11:30 quotes are due
    (lag,) = list(health.metrics(session, at("2026-06-15 10:20:00")))
    assert [(s.labels["source"], s.value) for s in lag.samples] == [("feed", 22 * 60.0)]


def test_after_the_close_the_days_minute_bars_become_its_daily_bar(engine, tmp_path):
    path, df = real_daily(tmp_path, since="2026-06-01")
    market.load_bars(engine, path, "daily")
    prev = float(df.filter(pl.col("code") == "600519")["close"][-1])
    prices = [prev * 1.004, prev * 1.021, prev * 0.987, prev * 1.003]
    times = ["2026-06-17 09:30:40", "2026-06-17 10:12:05", "2026-06-17 13:45:30", "2026-06-17 15:00:00"]
    with engine.begin() as conn:
        store.ingest(conn, [store.Tick("600519.SH", at(t), p, v)
                            for t, p, v in zip(times, prices, (8_000, 900_000, 1_700_000, 2_400_000), strict=True)])
    with engine.begin() as conn:
        first = store.close_day(conn, date(2026, 6, 17))
    with engine.begin() as conn:
        assert store.close_day(conn, date(2026, 6, 17))["daily_bars"] == first["daily_bars"] == 1
    with Session(engine) as s:
        bar = s.get(DailyBar, ("600519.SH", date(2026, 6, 17)))
        history = market.daily_history(s, ["600519.SH"], before=date(2026, 6, 18), days=5)
    assert [float(v) for v in (bar.open, bar.high, bar.low, bar.close)] == pytest.approx(
        [prices[0], prices[1], prices[2], prices[3]], abs=1e-4)
    assert bar.volume == 2_400_000
    assert history["date"].iloc[-1].date() == date(2026, 6, 17) and len(history) == 5
