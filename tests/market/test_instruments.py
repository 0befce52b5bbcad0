"""The shipped instrument master and its loader, as a broker's market-data desk would check it."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from brokercare.advisory import catalogue
from brokercare.core.database import Base
from brokercare.core.errors import NotFound
from brokercare.market import service as market
from brokercare.market.models import Instrument
from brokercare.market.reference import (
    INDEX_PRICED_ETFS,
    board_of,
    is_risk_warning,
    product_rating,
    shipped_index_closes,
    shipped_instruments,
)
from brokercare.market.service import find_instruments, get_instrument, load_instruments


def test_shipped_list_covers_every_listed_a_share_and_board():
    rows = shipped_instruments()
    stocks = [r for r in rows if r["kind"] == "stock"]
    assert len(stocks) == 5253
    assert Counter(r["board"] for r in stocks).keys() == {"main", "chinext", "star", "bse"}
    by_symbol = {r["symbol"]: r for r in rows}
    assert by_symbol["600519.SH"]["name"] == "贵州茅台" and by_symbol["600519.SH"]["board"] == "main"
    assert by_symbol["300750.SZ"]["board"] == "chinext"
    assert by_symbol["688981.SH"]["board"] == "star" and by_symbol["688981.SH"]["lot_size"] == 200
    assert any(r["symbol"].endswith(".BJ") and r["board"] == "bse" for r in stocks)
    assert by_symbol["600519.SH"]["price_source"] == "history"
    assert all(r["last_price"] and r["last_price"] > 0 for r in rows)
    assert {r["price_source"] for r in rows} <= {"history", "nav", "index", "par", "modelled"}


def test_funds_etfs_and_reverse_repos_have_real_codes_and_ratings():
    by_symbol = {r["symbol"]: r for r in shipped_instruments()}
    assert by_symbol["204001.SH"]["kind"] == "repo" and "GC001" in by_symbol["204001.SH"]["name"]
    assert by_symbol["131810.SZ"]["kind"] == "repo" and "R-001" in by_symbol["131810.SZ"]["name"]
    assert by_symbol["510300.SH"]["kind"] == "etf"
    money = [r for r in by_symbol.values() if r["kind"] == "fund" and r["board"] == "money"]
    assert len(money) > 500 and {r["risk_rating"] for r in money} == {"R1"}
    assert by_symbol["000198.OF"]["name"] == "天弘余额宝货币"
    boards = {r["board"] for r in by_symbol.values() if r["kind"] == "fund"}
    assert {"money", "bond", "index", "equity", "mixed", "gold", "qdii"} <= boards
    st = [r for r in by_symbol.values() if r["kind"] == "stock" and r["is_st"]]
    assert st and all(r["risk_rating"] == "R5" for r in st)


def test_the_master_rates_every_shelf_product_as_the_advisory_shelf_does():
    """The suitability check takes a product's rating from the advisory shelf, else from this
    master: a product in both must not carry two ratings."""
    master = {r["symbol"]: r for r in shipped_instruments()}
    shared = [p for p in catalogue.products() if p["symbol"] in master]
    assert len(shared) >= 12 and "510300.SH" in {p["symbol"] for p in shared}
    assert [(p["symbol"], master[p["symbol"]]["risk_rating"]) for p in shared] == [
        (p["symbol"], p["risk"]) for p in shared]
    assert master["159919.SZ"]["risk_rating"] == master["000961.OF"]["risk_rating"] == "R3"  # 沪深300
    assert master["000962.OF"]["risk_rating"] == "R4"  # 中证500
    assert product_rating("index", "R4", "易方达沪深300医药ETF联接") == "R4"  # a sector sub-index
    assert product_rating("index", "R4", "华夏上证50ETF") == "R3"


def test_510300_is_priced_from_the_real_csi300_close_like_the_shelf():
    etf = {r["symbol"]: r for r in shipped_instruments()}["510300.SH"]
    index, per_1000 = INDEX_PRICED_ETFS["510300"]
    closes = [c for _, c in shipped_index_closes()[index]]
    assert len(closes) == 250 and closes[-1] == pytest.approx(4588.1968)
    assert min(closes) * per_1000 / 1000 <= etf["last_price"] <= max(closes) * per_1000 / 1000
    assert etf["price_source"] == "index"
    shelf = catalogue.get("510300.SH")
    assert etf["last_price"] == pytest.approx(shelf["last_price"]) and etf["risk_rating"] == shelf["risk"]


@pytest.mark.parametrize(("code", "expected"), [
    ("600000", ("SH", "main")), ("605499", ("SH", "main")), ("688001", ("SH", "star")),
    ("000001", ("SZ", "main")), ("003816", ("SZ", "main")), ("300059", ("SZ", "chinext")),
    ("301236", ("SZ", "chinext")), ("430047", ("BJ", "bse")), ("830799", ("BJ", "bse")),
    ("920002", ("BJ", "bse")),
])
def test_board_from_code(code, expected):
    assert board_of(code) == expected


def test_risk_warning_names():
    assert is_risk_warning("*ST全新") and is_risk_warning("ST星源")
    assert not is_risk_warning("贵州茅台") and not is_risk_warning("万科A")


def test_load_is_idempotent_and_keeps_live_prices(engine, session):
    n = load_instruments(engine)
    assert session.scalar(select(Instrument).where(Instrument.symbol == "600519.SH")).name == "贵州茅台"
    session.execute(update(Instrument).where(Instrument.symbol == "600519.SH")
                    .values(last_price=Decimal("1500.00"), price_source="quote"))
    session.commit()
    assert load_instruments(engine) == n
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Instrument)) == n
    moutai = session.get(Instrument, "600519.SH")
    assert moutai.last_price == Decimal("1500.0000") and moutai.price_source == "quote"


def test_look_up_by_code_symbol_and_chinese_name(engine, session):
    load_instruments(engine)
    assert get_instrument(session, "600519").symbol == "600519.SH"
    assert get_instrument(session, "510300").symbol == "510300.SH"
    assert get_instrument(session, "000001").name == "平安银行"
    assert get_instrument(session, "000001.OF").name == "华夏成长混合"
    assert [i.symbol for i in find_instruments(session, "茅台")] == ["600519.SH"]
    assert find_instruments(session, "宁德时代")[0].symbol == "300750.SZ"
    with pytest.raises(NotFound):
        get_instrument(session, "999999")


def test_other_domains_read_the_master_through_the_service(empty_engine):
    """What accounts, monitoring, advisory and the assistant read from the master, in batches and
    without the table class: names for the lexicon, prices to value holdings, a universe to watch."""
    assert market.instrument_names(empty_engine) is None  # before the schema exists
    Base.metadata.create_all(empty_engine)
    market.load_instruments(empty_engine)
    with Session(empty_engine) as session:
        found = market.instruments_by_symbol(session, ["600519.SH", "000962.OF", "600519.SH", "999999.SH"])
        assert sorted(found) == ["000962.OF", "600519.SH"]
        assert found["600519.SH"].name == "贵州茅台" and found["000962.OF"].risk_rating == "R4"
        prices = market.last_prices(session, ["600519.SH", "510300.SH"])
        assert set(prices) == {"600519.SH", "510300.SH"} and all(p > 0 for p in prices.values())
        etfs = market.instruments_of_kinds(session, ["etf"])
        assert etfs and {i.kind for i in etfs} == {"etf"} and [i.symbol for i in etfs] == sorted(i.symbol for i in etfs)
        counts = market.instrument_count_by_kind(session)
        assert counts["stock"] == 5253 and sum(counts.values()) == market.instrument_count(session)
        ref = market.instruments_sql()
        board = session.execute(select(ref.c.board, ref.c.last_price).where(ref.c.symbol == "300750.SZ")).one()
        assert board.board == "chinext" and board.last_price == market.last_prices(session, ["300750.SZ"])["300750.SZ"]
    names = dict(market.instrument_names(empty_engine))
    assert names["600519.SH"] == "贵州茅台" and names["510300.SH"].startswith("华泰柏瑞沪深300")
