"""The nightly batch reads SQLite through the ADBC driver, a refresh through its own connection:
both feed the same Polars aggregation and must give the same sources, and a refresh must see
events it has not committed yet."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, timedelta

import polars as pl
from brokerage import NOW, Brokerage
from polars.testing import assert_frame_equal

from brokercare.core import bulkread
from brokercare.core.bulkread import arrow_reads
from brokercare.customers.config import load_config
from brokercare.customers.engine import AsOf, compute_partition
from brokercare.customers.sources import Sources, load_sources


def _varied_brokerage(b: Brokerage) -> list[int]:
    """Customers whose rows hit the nulls, windows and joins of every behaviour and trade source."""
    c1, a1 = b.customer(cash="100000.00", city="上海")
    b.hold(a1, "600519.SH", "200", "1400")
    b.hold(a1, "300750.SZ", "1000", "300", opened_on=date(2020, 1, 2))
    b.trade(a1, "600519.SH", "buy", "100", "1450.01", NOW - timedelta(days=40))
    b.trade(a1, "600519.SH", "buy", "100", "1450.02", NOW - timedelta(days=39))
    b.trade(a1, "600519.SH", "sell", "150", "1500.03", NOW - timedelta(days=5))
    b.trade(a1, "688981.SH", "buy", "300", "80.5", NOW - timedelta(days=100))
    b.trade(a1, "300750.SZ", "sell", "100", "280", NOW - timedelta(days=400))  # outside the year
    b.behaviour(c1, "login", device_id="iphone", geo_city="上海", days_ago=500)
    b.behaviour(c1, "login", device_id="iphone", geo_city=None, days_ago=60)
    b.behaviour(c1, "login", device_id=None, geo_city="乌鲁木齐", days_ago=1)
    b.behaviour(c1, "search", query="子女教育金怎么规划", days_ago=200)
    b.behaviour(c1, "content_read", topic="子女教育", page="/news/a", duration_s=40, channel="web")
    b.behaviour(c1, "content_read", topic=None, page="/news/b", duration_s=None, days_ago=20)
    b.behaviour(c1, "page_view", page="/market", duration_s=12, days_ago=2)
    b.behaviour(c1, "page_view", page=None, days_ago=3)
    c2, a2 = b.customer(cash="5.00", city="北京")
    b.behaviour(c2, "login", device_id="pad", geo_city="北京", days_ago=700)  # only an old login
    b.trade(a2, "430047.BJ", "sell", "100", "12.51", NOW - timedelta(days=3))  # a sell without a buy
    c3, _ = b.customer(cash="0.00")
    b.session.commit()
    return [c1.id, c2.id, c3.id]


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def test_the_batch_reader_and_the_connection_reader_give_the_same_sources(session, monkeypatch) -> None:
    ids = _varied_brokerage(Brokerage(session))
    engine, as_of, compiled = session.get_bind(), AsOf.now(), load_config()
    with engine.connect() as conn:
        plain = load_sources(conn, min(ids), max(ids), as_of, compiled)
        with arrow_reads(conn):
            if conn.dialect.name == "sqlite":  # every read goes through ADBC: no silent fallback
                monkeypatch.setattr(bulkread, "driver_rows", None)
            arrow = load_sources(conn, min(ids), max(ids), as_of, compiled)
    assert plain.behaviour.height == 1 and plain.login_cities.height == 3  # c2: an old login only
    for f in fields(Sources):
        assert_frame_equal(_sorted(getattr(arrow, f.name)), _sorted(getattr(plain, f.name)), check_exact=True)


def test_a_refresh_inside_the_batch_reader_sees_its_own_uncommitted_events(session) -> None:
    b = Brokerage(session)
    c, _ = b.customer(cash="1000.00")
    session.commit()
    b.behaviour(c, "login", device_id="iphone", geo_city="上海", days_ago=0.1)
    session.flush()
    conn = session.connection()
    with arrow_reads(conn):
        frame = compute_partition(conn, c.id, c.id, AsOf.now(), load_config())
    assert frame["login_count_30d"].to_list() == [1]
    session.rollback()
