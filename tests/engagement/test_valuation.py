"""Valuation warnings on real index data: 沪深300 at the 95th PB percentile of ten years on
2021-06-22 warns a balanced (C3) customer holding a 沪深300 fund, not an aggressive (C5) one, and
not a customer whose fund tracks the cheap 中证500; once per episode, under the frequency cap.
And an IPO's first-day estimate from the comparable listings the broker loaded."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import select
from tests.engagement.people import customer, manager
from tests.monitoring.brokerage import add_instruments

from brokercare.assistant.service import check_outgoing
from brokercare.core.calendar import add_trading_days
from brokercare.customers.models import Customer
from brokercare.engagement import contact, ipo_estimate, valuation, valuation_alerts
from brokercare.market.models import DailyBar, Instrument
from brokercare.monitoring.models import IpoIssue
from brokercare.outbox.models import OutboxMessage

DAY = date(2021, 6, 22)  # the last day of the shipped valuation history
SOURCE = "/work/shared/data/market/index_valuation_and_cgb10y/index_valuation/000300.csv"


def test_the_ten_year_percentile_reproduces_the_index_providers_figures():
    v = valuation.valuation_on("000300", DAY)
    assert (v.pe, v.pb) == (29.041, 3.3515)
    # the source's own daily percentiles that day: PE 82.9 %, PB 94.9 % (weekly samples here)
    assert abs(v.pe_pct - 82.9) < 1.5 and abs(v.pb_pct - 94.9) < 1.0
    assert v.top > valuation.config().percentile
    cheap = valuation.valuation_on("000905", DAY)
    assert cheap.top < 30  # 中证500 was cheap by its own decade
    assert valuation.valuation_on("000300", date(2026, 6, 22)) is None  # five years stale: not used


def test_the_percentile_is_computed_without_looking_ahead():
    values = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    assert valuation.rolling_percentile(values, 10).tolist() == pytest.approx([0.0, 0.0, 100 / 3, 75.0, 60.0])
    assert valuation.rolling_percentile(values, 2).tolist() == [0.0, 0.0, 50.0, 50.0, 0.0]


def test_which_index_measures_a_holding():
    assert valuation.index_of("华泰柏瑞沪深300ETF", "etf", None).code == "000300"
    assert valuation.index_of("贵州茅台", "stock", "白酒").code == "000932"
    assert valuation.index_of("平安银行", "stock", "银行").code == "399986"
    assert valuation.index_of("宁德时代", "stock", "电气设备") is None


def _investors(session) -> dict:
    add_instruments(session)
    for symbol, name in (("510300.SH", "华泰柏瑞沪深300ETF"), ("510500.SH", "南方中证500ETF")):
        session.add(Instrument(symbol=symbol, code=symbol[:6], exchange="SH", name=name, kind="etf", board="index",
                               lot_size=100, risk_rating="R3", last_price=Decimal("5.000")))
    session.flush()
    wang = manager(session, "cm_wang", "王经理")
    ids = {"balanced": customer(session, 1, "吴敏", manager_id=wang, cash="50000", holdings=(("510300.SH", 20000),)),
           "aggressive": customer(session, 2, "郑浩", manager_id=wang, cash="50000", holdings=(("510300.SH", 30000),)),
           "midcap": customer(session, 3, "冯婷", manager_id=wang, cash="50000", holdings=(("510500.SH", 10000),))}
    for key, level in (("balanced", "C3"), ("aggressive", "C5"), ("midcap", "C2")):
        session.get(Customer, ids[key]).risk_level = level
    session.commit()
    return ids


def _warnings(session, customer_id: int) -> list[str]:
    return list(session.scalars(select(OutboxMessage.body).where(OutboxMessage.customer_id == customer_id,
                                                                 OutboxMessage.kind == "engagement_valuation")))


def test_a_csi_300_holding_warns_a_balanced_customer_but_not_an_aggressive_one(session):
    people = _investors(session)
    sent = valuation_alerts.send_valuation_warnings(session, DAY)
    session.commit()
    assert "000300" in sent.dear and "000905" not in sent.dear
    assert (sent.warned, sent.capped, sent.blocked) == (1, 0, 0)
    [body] = _warnings(session, people["balanced"])
    assert body.startswith("吴敏您好，您持有的华泰柏瑞沪深300ETF与沪深300指数相关。截至2021年6月22日，沪深300市盈率29.0倍")
    assert "市净率3.35倍，处于95%分位" in body and "一年后指数涨跌幅的中位数为" in body
    assert "平衡型" in body and check_outgoing(body).action == "pass"
    assert _warnings(session, people["aggressive"]) == [] and _warnings(session, people["midcap"]) == []
    again = valuation_alerts.send_valuation_warnings(session, DAY + timedelta(days=1))
    assert (again.warned, again.held) == (0, 1)  # told once while it stays dear


def test_a_valuation_warning_held_by_the_cap_goes_out_the_next_night(session):
    people = _investors(session)
    wu = people["balanced"]
    contact.allow(session, [(wu, "birthday:x"), (wu, "festival:x")], kind="greeting", day=DAY)
    assert valuation_alerts.send_valuation_warnings(session, DAY).capped == 1
    assert valuation_alerts.send_valuation_warnings(session, date(2021, 6, 23)).warned == 1
    assert len(_warnings(session, wu)) == 1


def test_stale_valuations_warn_nobody_and_the_operator_is_told(session):
    from brokercare.core.scheduler import run_now

    _investors(session)
    late = valuation_alerts.send_valuation_warnings(session, date(2026, 6, 16))
    assert (late.dear, late.warned) == ([], 0)
    assert late.stale.startswith("index valuation data is stale: all configured indices")
    assert "newest 2021-06-22" in late.stale and "BROKERCARE_INDEX_VALUATION_CSV" in late.stale
    assert valuation_alerts.send_valuation_warnings(session, DAY).stale is None  # current on its own day
    session.rollback()
    run = run_now("engagement.valuation_warnings", date(2026, 6, 16))
    assert run.status == "succeeded" and run.counts["stale_data"] == 1
    assert run.warnings and "no valuation warning can be sent" in run.warnings[0]


# --- IPO first-day estimate ---------------------------------------------------------------

def _issue(session, code: str, symbol: str, name: str, board: str, industry: str, price: str,
           subscribe_on: date, listing_on: date | None, first_close: str | None = None) -> None:
    session.add(IpoIssue(code=code, symbol=symbol, name=name, exchange=symbol[-2:], board=board,
                         subscribe_on=subscribe_on, price=Decimal(price), max_shares=10000,
                         results_on=add_trading_days(subscribe_on, 2), payment_on=add_trading_days(subscribe_on, 2),
                         listing_on=listing_on, industry=industry, source="broker import"))
    if first_close is not None:
        c = Decimal(first_close)
        session.add(Instrument(symbol=symbol, code=symbol[:6], exchange=symbol[-2:], name=name, kind="stock",
                               board=board, lot_size=100, last_price=c))
        session.add(DailyBar(symbol=symbol, day=listing_on, open=c, high=c, low=c, close=c, volume=100000))


def test_an_ipo_estimate_from_comparable_recent_listings(session):
    day = date(2023, 8, 21)
    # ChiNext listings of summer 2023: names, industries and listing days from the shipped
    # recent_listings_2023.csv; issue prices and first closes are test inputs standing for what a
    # broker loads (the shared data holds neither)
    listed = [
        ("300804", "广康生化", "农药化肥", "24.00", date(2023, 6, 27), "36.00"),
        ("300904", "威力传动", "电气设备", "30.00", date(2023, 8, 9), "66.00"),
        ("301172", "君逸数码", "软件服务", "41.00", date(2023, 7, 26), "39.00"),
        ("301202", "朗威股份", "机械基件", "19.50", date(2023, 7, 5), "29.25"),
    ]
    for k, (code, name, industry, price, listing, close) in enumerate(listed):
        _issue(session, code, f"{code}.SZ", name, "chinext", industry, price, listing - timedelta(days=10 + k),
               listing, close)
    _issue(session, "301999", "301999.SZ", "测试新材", "chinext", "元器件", "20.00", day, None)
    _issue(session, "732001", "603001.SH", "沪市主板新股", "main", "食品", "10.00", day, None)
    session.flush()
    found = {e.symbol: e for e in ipo_estimate.estimates_for(session, day)}
    chinext = found["301999.SZ"]
    returns = [36 / 24 - 1, 66 / 30 - 1, 39 / 41 - 1, 29.25 / 19.5 - 1]
    assert chinext.comparables == 4 and chinext.basis == "board"
    assert abs(chinext.median - float(np.median(returns))) < 1e-9 and chinext.broke == 1
    assert chinext.lot_gain == round(float(np.median(returns)) * 20 * 500, 2)
    assert "中一签（500股，需缴款10,000元）" in chinext.text and "1只首日破发" in chinext.text
    main = found["603001.SH"]
    assert main.median is None and "可比新股不足3只，暂不估算" in main.text


@pytest.mark.skipif(not Path(SOURCE).exists(), reason="the shared market data is not mounted here")
def test_the_shipped_excerpt_matches_the_shared_source():
    shipped = valuation.history().filter(pl.col("index") == "000300")
    source = pl.read_csv(SOURCE).with_columns(pl.col("date").str.strptime(pl.Date, "%Y/%m/%d"))
    joined = shipped.join(source, on="date")
    assert joined.height == shipped.height
    assert (joined["pe"] - joined["pe_right"]).abs().max() < 1e-3
    assert (joined["pb"] - joined["pb_right"]).abs().max() < 1e-4


def test_the_estimates_are_served_to_a_signed_in_customer(engine, session, monkeypatch):
    from argon2 import PasswordHasher
    from fastapi.testclient import TestClient
    from tests.engagement.people import PASSWORD

    from brokercare.api import create_app
    from brokercare.security import auth
    from brokercare.security.service import create_user

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    add_instruments(session)
    cid = customer(session, 1, "吴敏", manager_id=None, cash="50000")
    create_user(session, username="wumin", password=PASSWORD, role="customer", display_name="吴敏", customer_id=cid)
    _issue(session, "301999", "301999.SZ", "测试新材", "chinext", "元器件", "20.00", date(2023, 8, 21), None)
    session.commit()
    with TestClient(create_app()) as client:
        token = client.post("/api/v1/auth/token", data={"username": "wumin", "password": PASSWORD}).json()
        r = client.get("/api/v1/engagement/ipo-estimates?date=2023-08-21",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == 200
        [e] = r.json()
        assert e["basis"] == "none" and "暂不估算" in e["text"]
        assert client.get("/api/v1/engagement/ipo-estimates?date=明天",
                          headers={"Authorization": f"Bearer {token['access_token']}"}).status_code == 422


def test_tomorrows_new_share_carries_its_estimate_in_the_daily_report(engine, session):
    """李霞 can subscribe to 华宏科技 (SH main board) tomorrow: three SH main-board listings of the
    last months give the report's note its first-day estimate."""
    from tests.engagement.world import DAY, build_world

    from brokercare.engagement import service
    from brokercare.engagement.models import DailyReport

    world = build_world(session)
    # real SH main-board codes and names; listing days, prices and first closes are test inputs
    for code, name, price, listing, close in (("603101", "汇嘉时代", "10.00", date(2026, 5, 6), "14.00"),
                                              ("603823", "百合花", "20.00", date(2026, 4, 1), "19.00"),
                                              ("603119", "浙江荣泰", "8.00", date(2026, 3, 2), "12.00")):
        _issue(session, code, f"{code}.SH", name, "main", "化工原料", price, listing - timedelta(days=12), listing, close)
    session.commit()
    service.publish_daily_reports(engine, DAY)
    doc = session.scalar(select(DailyReport.data).where(DailyReport.customer_id == world["lixia"]))
    # first days: +40 %, -5 %, +50 %: the median is +40 %, one broke issue
    assert doc["notes"][0] == ("6月17日可申购新股华宏科技（申购代码 732999），发行价 18.88 元，按您的额度最多可申购 5,000 股。"
                               "参考近期3只可比新股，上市首日涨幅中位数约+40%，其中1只首日破发（历史统计，不代表未来，新股也有破发风险）。")
    live = service.live_report(session, world["lixia"], DAY)
    assert live["notes"][0] == doc["notes"][0]
