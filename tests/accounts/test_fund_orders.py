"""场外基金申购/赎回 as the fund operations desk checks it: the 15:00 cut-off and the holidays pick
the NAV day, a retried order is placed once, the T+1 confirmation prices it at the real published
NAV, the redemption fee follows the holding period (1.5 % under 7 days) lot by lot, and a 谨慎型
customer buying a 中高风险 fund is warned and must confirm (recorded in the ledger)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.monitoring.brokerage import add_account, add_customer

from brokercare.accounts import fund_confirmation, fund_reconciliation, fund_settlement, funds
from brokercare.accounts.models import (
    Account,
    CashMovement,
    FundOrder,
    Position,
    ReconciliationItem,
)
from brokercare.advisory import service as advisory
from brokercare.advisory.models import RiskAssessment, SuitabilityConfirmation
from brokercare.api import create_app
from brokercare.core.bus import get_bus
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import session_scope
from brokercare.core.errors import Conflict, PermissionDenied, ValidationFailed
from brokercare.core.scheduler import run_now
from brokercare.ledger.models import LedgerEntry
from brokercare.market.events import POSITION_EVENT
from brokercare.market.reference import shipped_instruments
from brokercare.market.service import load_instruments
from brokercare.security import auth
from brokercare.security.service import create_user

PASSWORD = "Passw0rd2026"
HS300 = "000051.OF"  # 华夏沪深300ETF联接A, R3
CSI500 = "000008.OF"  # 嘉实中证500ETF联接A, R4
EXCERPT = "data/fund_nav/excerpt_2025-09_2026-02.csv"


def bj(*parts: int) -> datetime:
    """A Beijing wall-clock time."""
    return datetime(*parts, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def shelf(engine, session):
    """The five funds of the shipped NAV excerpt, as the instrument master lists them, and their
    real NAVs from 2025-09-01 to 2026-02-13."""
    codes = {"000051", "000961", "000008", "001512", "000217"}
    load_instruments(engine, [r for r in shipped_instruments()
                              if r["exchange"] == "OF" and r["code"] in codes])
    path = resources.files("brokercare.accounts").joinpath(EXCERPT)
    fund_confirmation.load_navs(session, fund_confirmation.read_nav_file(path), source=path.name)
    session.commit()


def investor(session, n: int, level: str, cash: str = "200000") -> tuple[int, int]:
    c = add_customer(session, n)
    account = add_account(session, c, cash=cash)
    session.add(RiskAssessment(customer_id=c.id, level=level, score=40, assessed_on=date(2025, 6, 1),
                               valid_until=date(2028, 5, 31), channel="app"))
    session.commit()
    return c.id, account.id


def subscribe(session, cid, amount, key, at, symbol=HS300, confirmed=False):
    out = funds.place_subscription(session, customer_id=cid, symbol=symbol, amount=amount,
                                   idempotency_key=key, suitability=advisory,
                                   risk_confirmed=confirmed, now=at.astimezone(UTC))
    session.commit()
    return out


def confirm(session, day: date) -> dict:
    counts = fund_confirmation.confirm_due(session, day, now=bj(day.year, day.month, day.day, 9))
    session.commit()
    session.expire_all()
    return counts


def order(session, order_no) -> FundOrder:
    return session.scalar(select(FundOrder).where(FundOrder.order_no == order_no))


def money(session, account_id) -> tuple[Decimal, Decimal]:
    session.expire_all()
    a = session.get(Account, account_id)
    return a.cash_balance, a.frozen_cash


@pytest.mark.parametrize(("placed", "nav_day"), [
    (bj(2026, 1, 13, 14, 59, 59), date(2026, 1, 13)),   # 周二 14:59:59: 当日净值
    (bj(2026, 1, 13, 15, 0, 0), date(2026, 1, 14)),     # 15:00:00 整: 下一交易日
    (bj(2026, 1, 16, 15, 1), date(2026, 1, 19)),        # 周五 15:01: 下周一
    (bj(2026, 1, 17, 10, 0), date(2026, 1, 19)),        # 周六
    (bj(2026, 2, 13, 14, 30), date(2026, 2, 13)),       # 春节前最后一个交易日, 截止前
    (bj(2026, 2, 13, 15, 30), date(2026, 2, 24)),       # 春节前最后一个交易日, 截止后: 节后首日
    (bj(2026, 2, 18, 11, 0), date(2026, 2, 24)),        # 春节假期中
    (bj(2025, 9, 30, 15, 5), date(2025, 10, 9)),        # 国庆前, 截止后
    (bj(2025, 10, 3, 9, 30), date(2025, 10, 9)),        # 国庆假期中
])
def test_the_15_00_cut_off_and_the_holidays_decide_the_nav_day(engine, placed, nav_day):
    assert funds.nav_day_for(placed) == nav_day


def test_orders_at_14_59_and_15_01_are_confirmed_at_different_navs(session, shelf):
    cid, acc = investor(session, 1, "C3")
    early = subscribe(session, cid, "10000", "app-1459", bj(2026, 1, 13, 14, 59))
    late = subscribe(session, cid, "10000", "app-1501", bj(2026, 1, 13, 15, 1))
    assert (early.nav_day, late.nav_day) == (date(2026, 1, 13), date(2026, 1, 14))
    assert early.fee == Decimal("11.99")  # 1.2 % 一折 = 0.12 %, 外扣法: 10000 − 10000 / 1.0012
    assert money(session, acc) == (Decimal("200000.00"), Decimal("20000.00"))

    assert confirm(session, date(2026, 1, 14)) == {"confirmed": 1, "failed": 0, "waiting_nav": 0, "expired": 0}
    first, second = order(session, early.order_no), order(session, late.order_no)
    assert (first.state, first.nav, first.units) == ("confirmed", Decimal("1.7871"), Decimal("5588.94"))
    assert second.state == "placed"  # its NAV day is today: confirmed tomorrow
    confirm(session, date(2026, 1, 15))
    second = order(session, late.order_no)
    assert (second.state, second.nav, second.units) == ("confirmed", Decimal("1.7806"), Decimal("5609.35"))

    assert money(session, acc) == (Decimal("180000.00"), Decimal("0.00"))
    pos = session.scalar(select(Position).where(Position.account_id == acc, Position.symbol == HS300))
    assert pos.quantity == pos.available_quantity == Decimal("11198.29")
    assert confirm(session, date(2026, 1, 16))["confirmed"] == 0  # confirmed once, never again
    assert session.scalar(select(func.count()).select_from(CashMovement)
                          .where(CashMovement.kind == "fund_subscribe")) == 2


def test_one_bad_order_fails_alone_and_its_cash_is_released(session, shelf):
    """Three subscriptions on one NAV day; the middle one's fee schedule was withdrawn after it was
    placed. The other two are confirmed, the bad one fails with its frozen cash released and the
    reason in the ledger, instead of the whole morning's run stopping."""
    cid, acc = investor(session, 1, "C3")
    placed = [subscribe(session, cid, "10000", f"app-{k}", bj(2026, 1, 13, 10, k)) for k in range(3)]
    order(session, placed[1].order_no).fee_schedule = "withdrawn"
    session.commit()
    assert confirm(session, date(2026, 1, 14)) == {"confirmed": 2, "failed": 1, "waiting_nav": 0, "expired": 0}
    assert [order(session, p.order_no).state for p in placed] == ["confirmed", "failed", "confirmed"]
    assert money(session, acc) == (Decimal("180000.00"), Decimal("0.00"))  # 20,000 spent, 10,000 released
    failed = session.scalar(select(LedgerEntry.body).where(LedgerEntry.kind == "fund_order.failed"))
    assert placed[1].order_no in failed and "withdrawn" in failed
    assert confirm(session, date(2026, 1, 15))["failed"] == 0  # failed once, not retried every morning


def test_a_friday_order_after_cut_off_before_the_spring_festival_waits_for_the_nav(session, shelf):
    cid, acc = investor(session, 2, "C3")
    o = subscribe(session, cid, "5000", "app-cny", bj(2026, 2, 13, 15, 20))
    assert (o.nav_day, o.confirm_day) == (date(2026, 2, 24), date(2026, 2, 25))
    assert o.cancellable_until == bj(2026, 2, 24, 15, 0)
    assert confirm(session, date(2026, 2, 25))["waiting_nav"] == 1  # 2-24's NAV file not in yet
    assert order(session, o.order_no).state == "placed"
    assert money(session, acc) == (Decimal("200000.00"), Decimal("5000.00"))


def test_a_retried_order_is_placed_once(session, shelf):
    cid, acc = investor(session, 3, "C3")
    at = bj(2026, 1, 13, 10, 15)
    first = subscribe(session, cid, "30000", "app-7f3a", at)
    again = subscribe(session, cid, "30000", "app-7f3a", at + timedelta(seconds=8))  # the app retried
    assert again.replayed and again.order_no == first.order_no
    assert money(session, acc) == (Decimal("200000.00"), Decimal("30000.00"))
    with pytest.raises(Conflict, match="已用于另一笔基金交易"):
        subscribe(session, cid, "31000", "app-7f3a", at)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(FundOrder)) == 1


@pytest.mark.parametrize(("redeemed_at", "days", "fee", "proceeds"), [
    (bj(2026, 1, 13, 10, 0), 6, Decimal("149.39"), Decimal("9809.64")),   # < 7 天: 1.5 %
    (bj(2026, 1, 14, 10, 0), 7, Decimal("49.61"), Decimal("9873.19")),    # 满 7 天: 0.5 %
])
def test_the_redemption_fee_at_6_and_7_days_of_holding(session, shelf, redeemed_at, days, fee, proceeds):
    cid, acc = investor(session, 4, "C3")
    bought = subscribe(session, cid, "10000", "app-buy", bj(2026, 1, 7, 13, 30))
    confirm(session, date(2026, 1, 8))
    units = order(session, bought.order_no).units
    assert units == Decimal("5572.73")
    sell = funds.place_redemption(session, customer_id=cid, symbol="000051", units=units,
                                  idempotency_key="app-sell", now=redeemed_at.astimezone(UTC))
    session.commit()
    assert (sell.nav_day - date(2026, 1, 7)).days == days
    confirm(session, sell.confirm_day)
    done = order(session, sell.order_no)
    assert (done.state, done.fee, done.proceeds) == ("confirmed", fee, proceeds)
    assert money(session, acc) == (Decimal("190000.00"), Decimal("0.00"))  # in transit: index fund T+4
    fund_settlement.settle_due(session, done.settle_day)
    session.commit()
    assert money(session, acc) == (Decimal("190000.00") + proceeds, Decimal("0.00"))
    assert session.scalar(select(Position).where(Position.account_id == acc)) is None


def test_a_partial_redemption_takes_the_oldest_lot_first(session, shelf):
    cid, acc = investor(session, 5, "C3")
    subscribe(session, cid, "10000", "app-a", bj(2026, 1, 5, 10, 0))   # 5638.80 份 at 1.7713
    subscribe(session, cid, "10000", "app-b", bj(2026, 1, 12, 10, 0))  # 5556.92 份 at 1.7974
    confirm(session, date(2026, 1, 13))
    sell = funds.place_redemption(session, customer_id=cid, symbol=HS300, units="8000",
                                  idempotency_key="app-s", now=bj(2026, 1, 14, 10, 0).astimezone(UTC))
    session.commit()
    confirm(session, date(2026, 1, 15))
    done = order(session, sell.order_no)
    # 5638.80 份 held 9 days at 0.5 %, then 2361.20 份 held 2 days at 1.5 %, at NAV 1.7806
    assert (done.fee, done.proceeds) == (Decimal("113.27"), Decimal("14131.53"))
    assert '"days": 9' in done.fee_detail and '"days": 2' in done.fee_detail
    pos = session.scalar(select(Position).where(Position.account_id == acc))
    assert pos.quantity == Decimal("3195.72")


def test_a_c2_customer_buying_an_r4_fund_is_warned_and_must_confirm(session, shelf):
    cid, acc = investor(session, 6, "C2")
    at = bj(2026, 1, 13, 10, 0)
    with pytest.raises(Conflict) as warned:
        subscribe(session, cid, "20000", "app-500", at, symbol=CSI500)
    session.rollback()
    assert "高于您目前的风险承受能力" in warned.value.detail and warned.value.extra["needs_confirmation"]
    assert money(session, acc) == (Decimal("200000.00"), Decimal("0.00"))  # nothing written

    o = subscribe(session, cid, "20000", "app-500", at, symbol=CSI500, confirmed=True)
    row = session.scalar(select(SuitabilityConfirmation).where(SuitabilityConfirmation.customer_id == cid))
    assert (o.state, o.suitability) == ("placed", "warn_confirm")
    assert (row.product, row.product_risk, row.investor_level) == (CSI500, "R4", "C2")
    kinds = session.scalars(select(LedgerEntry.kind).order_by(LedgerEntry.id)).all()
    assert kinds[-2:] == ["suitability.confirmed", "fund_order.placed"]
    placed = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "fund_order.placed"))
    assert f'"suitability_confirmation_id":{row.id}' in placed.body


def test_a_c1_customer_is_refused_a_fund_above_r1_even_when_insisting(session, shelf):
    cid, acc = investor(session, 7, "C1")
    with pytest.raises(PermissionDenied, match="即使您本人坚持也不行"):
        subscribe(session, cid, "5000", "app-c1", bj(2026, 1, 13, 10, 0), confirmed=True)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(FundOrder)) == 0


def test_redeeming_more_than_held_or_buying_beyond_cash_is_told_in_chinese(session, shelf):
    cid, _ = investor(session, 8, "C3", cash="3000")
    with pytest.raises(ValidationFailed, match="可用资金为 3,000.00元"):
        subscribe(session, cid, "5000", "app-x", bj(2026, 1, 13, 10, 0))
    with pytest.raises(ValidationFailed, match="您没有可赎回的华夏沪深300ETF联接A份额"):
        funds.place_redemption(session, customer_id=cid, symbol=HS300, units="100",
                               idempotency_key="app-y", now=bj(2026, 1, 13, 10).astimezone(UTC))


def test_the_scheduled_job_confirms_from_the_nav_file_in_the_inbox(session, engine, shelf):
    cid, acc = investor(session, 9, "C3")
    o = subscribe(session, cid, "10000", "app-j", bj(2026, 2, 13, 16, 0))  # priced at 2-24
    inbox = fund_confirmation.nav_inbox()
    inbox.mkdir(parents=True)
    (inbox / "nav_20260224.csv").write_text(
        "fund_code,nav_date,unit_nav\n000051,2026-02-24,1.7600\n000961,2026-02-24,1.6580\n", "utf-8")
    seen = []
    get_bus().subscribe(POSITION_EVENT, seen.append, group="test.funds")
    outcome = run_now("accounts.fund_orders_confirm", date(2026, 2, 25))
    assert outcome.status == "succeeded", outcome
    assert outcome.counts["confirmed"] == 1 and outcome.counts["navs"] == 2
    done = order(session, o.order_no)
    assert (done.nav, done.units) == (Decimal("1.7600"), Decimal("5675.00"))  # 9988.01 / 1.76, rounded down
    assert [(e.customer_id, e.payload["symbol"], e.payload["quantity"]) for e in seen] == [(cid, HS300, "5675.00")]


def test_a_days_orders_are_confirmed_in_batches_each_once(session, shelf):
    ids = [investor(session, 20 + i, "C3")[0] for i in range(5)]
    for i, cid in enumerate(ids):
        subscribe(session, cid, str(1000 * (i + 1)), f"app-{i}", bj(2026, 1, 13, 9, 45))
    counts = fund_confirmation.confirm_in_batches(session_scope, date(2026, 1, 14), batch=2)
    assert counts == {"confirmed": 5, "failed": 0, "waiting_nav": 0, "expired": 0}
    session.expire_all()
    assert [o.state for o in session.scalars(select(FundOrder))] == ["confirmed"] * 5
    assert fund_confirmation.confirm_in_batches(session_scope, date(2026, 1, 14), batch=2)["confirmed"] == 0


def test_a_nav_file_with_a_bad_row_loads_nothing(session, shelf, tmp_path):
    bad = tmp_path / "nav_20260224.csv"
    bad.write_text("fund_code,nav_date,unit_nav\n000051,2026-02-24,1.7600\n000961,2026-02-24,-1\n", "utf-8")
    with pytest.raises(ValidationFailed, match="row 3"):
        fund_confirmation.read_nav_file(bad)
    assert fund_confirmation.nav_of(session, HS300, date(2026, 2, 24)) is None


def test_the_customer_places_lists_and_cancels_through_the_api(session, shelf, monkeypatch):
    cid, acc = investor(session, 10, "C2")
    create_user(session, username="lixiuying", password=PASSWORD, role="customer",
                display_name="李秀英", customer_id=cid)
    session.commit()
    clock = {"now": bj(2026, 1, 13, 10, 0).astimezone(UTC)}
    monkeypatch.setattr(funds, "utcnow", lambda: clock["now"])
    with TestClient(create_app()) as client:
        token = client.post("/api/v1/auth/token", data={"username": "lixiuying", "password": PASSWORD})
        me = {"Authorization": f"Bearer {token.json()['access_token']}"}
        url = f"/api/v1/customers/{cid}/fund-orders"
        buy = {"kind": "subscribe", "symbol": "000008", "amount": "20000"}
        warned = client.post(url, json=buy, headers={**me, "Idempotency-Key": "k-1"})
        placed = client.post(url, json={**buy, "risk_confirmed": True}, headers={**me, "Idempotency-Key": "k-1"})
        again = client.post(url, json={**buy, "risk_confirmed": True}, headers={**me, "Idempotency-Key": "k-1"})
        listed = client.get(url, headers=me)
        no = placed.json()["order_no"]
        cancelled = client.post(f"{url}/{no}/cancel", headers=me)
        late = client.post(url, json={"kind": "subscribe", "symbol": "001512", "amount": "1000"},
                           headers={**me, "Idempotency-Key": "k-2"})
        clock["now"] = bj(2026, 1, 13, 15, 0, 1).astimezone(UTC)
        too_late = client.post(f"{url}/{late.json()['order_no']}/cancel", headers=me)
    assert warned.status_code == 409 and "中高风险" in warned.json()["detail"] and warned.json()["needs_confirmation"]
    assert placed.status_code == 201 and placed.json()["state_label"] == "已受理，待确认"
    assert again.status_code == 200 and again.json()["order_no"] == no
    assert [o["order_no"] for o in listed.json()] == [no]
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert too_late.status_code == 409 and "已过 1 月 13 日 15:00 的撤单截止时间" in too_late.json()["detail"]
    assert money(session, acc) == (Decimal("200000.00"), Decimal("1000.00"))


def test_bad_fund_orders_get_a_clear_4xx_in_chinese_and_write_nothing(session, shelf):
    cid, acc = investor(session, 11, "C3")
    create_user(session, username="zhangwei", password=PASSWORD, role="customer",
                display_name="张伟", customer_id=cid)
    create_user(session, username="agent01", password=PASSWORD, role="agent", display_name="坐席")
    session.commit()
    with TestClient(create_app()) as client:
        def login(name):
            token = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
            return {"Authorization": f"Bearer {token.json()['access_token']}", "Idempotency-Key": "k-9"}
        me, agent = login("zhangwei"), login("agent01")
        url = f"/api/v1/customers/{cid}/fund-orders"
        by_units = client.post(url, json={"kind": "subscribe", "symbol": "000051", "units": "100"}, headers=me)
        unknown = client.post(url, json={"kind": "subscribe", "symbol": "999999", "amount": "1000"}, headers=me)
        too_small = client.post(url, json={"kind": "subscribe", "symbol": "000051", "amount": "5"}, headers=me)
        not_held = client.post(url, json={"kind": "redeem", "symbol": "000051", "units": "100"}, headers=me)
        by_staff = client.post(url, json={"kind": "subscribe", "symbol": "000051", "amount": "1000"}, headers=agent)
    assert by_units.status_code == 422 and by_units.json()["detail"] == "申购请填写金额（元），不要填写份额"
    assert unknown.status_code == 404 and "没有找到场外基金“999999”" in unknown.json()["detail"]
    assert too_small.status_code == 422 and "申购金额不能低于" in too_small.json()["detail"]
    assert not_held.status_code == 422 and "您没有可赎回的" in not_held.json()["detail"]
    assert by_staff.status_code == 403 and "只有客户本人" in by_staff.json()["detail"]
    assert session.scalar(select(func.count()).select_from(FundOrder)) == 0
    assert money(session, acc) == (Decimal("200000.00"), Decimal("0.00"))


def test_the_fund_companys_confirmations_are_reconciled_and_differences_go_to_operations(session, shelf, tmp_path,
                                                                                         monkeypatch):
    """Three subscriptions of 2026-01-13 confirmed by the platform; the fund company's file agrees on
    one, confirms 0.01 unit fewer on another, does not list the third, and lists an order the
    platform never took: three open items for operations, and the same file again adds none."""
    cid, _acc = investor(session, 1, "C3")
    placed = [subscribe(session, cid, "10000", f"app-{k}", bj(2026, 1, 13, 10, k)) for k in range(3)]
    confirm(session, date(2026, 1, 14))
    mine = [order(session, p.order_no) for p in placed]
    rows = [f"{mine[0].order_no},{HS300},subscribe,{mine[0].nav},{mine[0].units},{mine[0].fee},confirmed",
            f"{mine[1].order_no},{HS300},subscribe,{mine[1].nav},{mine[1].units - Decimal('0.01')},{mine[1].fee},confirmed",
            f"FO20260113999999,{HS300},subscribe,1.7871,559.55,1.20,confirmed"]
    path = tmp_path / "huaxia_20260113.csv"
    path.write_text("order_no,symbol,kind,nav,units,fee,status\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = fund_reconciliation.reconcile(session, ta="huaxia", nav_day=date(2026, 1, 13),
                                           rows=fund_reconciliation.read_confirmations(path))
    session.commit()
    assert (result.rows, result.matched) == (3, 1)
    kinds = {i.reference: i.kind for i in result.differences}
    assert kinds == {mine[1].order_no: "units_mismatch", "FO20260113999999": "missing_here",
                     mine[2].order_no: "missing_at_ta"}
    assert "确认份额不一致" in next(i.detail for i in result.differences if i.kind == "units_mismatch")
    again = fund_reconciliation.reconcile(session, ta="huaxia", nav_day=date(2026, 1, 13),
                                          rows=fund_reconciliation.read_confirmations(path))
    session.commit()
    assert {i.id for i in again.differences} == {i.id for i in result.differences}
    assert session.scalar(select(func.count()).select_from(ReconciliationItem)) == 3


def test_a_bad_confirmation_row_reconciles_nothing(session, shelf, tmp_path):
    path = tmp_path / "huaxia_20260113.csv"
    path.write_text("order_no,symbol,kind,nav,units,fee,status\nFO1,000051.OF,subscribe,1.78,abc,1.2,confirmed\n",
                    encoding="utf-8")
    with pytest.raises(ValidationFailed, match="row 2: units"):
        fund_reconciliation.read_confirmations(path)


def test_a_fund_position_is_valued_at_its_latest_nav_with_its_date(session, shelf):
    """The shelf's NAV file ends on 2026-02-13: a customer holding 10,000 units of 华夏沪深300ETF联接A
    sees them valued at that day's NAV, dated, not at their cost or the catalogue's reference price."""
    from brokercare.accounts.service import positions_of

    cid, acc = investor(session, 1, "C3")
    session.add(Position(account_id=acc, symbol=HS300, quantity=Decimal("10000"), available_quantity=Decimal("10000"),
                         cost_price=Decimal("1.6667")))
    session.commit()
    latest = fund_confirmation.nav_of(session, HS300, date(2026, 2, 13))
    [held] = positions_of(session, cid)
    assert held.last_price == latest and held.market_value == (latest * 10000).quantize(Decimal("0.01"))
    assert held.price_at.astimezone(SHANGHAI).date() == date(2026, 2, 13) and not held.priced_at_cost
