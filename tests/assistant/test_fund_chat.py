"""A verified customer buys a fund in the chat: "我想买10万的沪深300基金" is offered as a precise
subscription (which fund, the fee, the NAV day) and placed only on an explicit "确认购买"; a fund
above the customer's risk level comes with the warning, and the confirmation is recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from brokercare.accounts import funds
from brokercare.accounts.models import Account, FundOrder
from brokercare.advisory.models import SuitabilityConfirmation
from brokercare.assistant import service
from brokercare.market.models import Instrument

TUESDAY_10AM = datetime(2026, 1, 13, 2, 0, tzinfo=UTC)  # 10:00 Beijing, a trading day


@pytest.fixture
def wang(session, brokerage, monkeypatch):
    """王芳 (C3) with 20 万 in her cash account; the shelf's 沪深300 feeder fund and an R4 fund listed."""
    for sym, name, risk in [("000051.OF", "华夏沪深300ETF联接A", "R3"), ("000008.OF", "嘉实中证500ETF联接A", "R4")]:
        session.add(Instrument(symbol=sym, code=sym[:6], exchange="OF", name=name, kind="fund",
                               board="index", last_price=Decimal("1.78"), risk_rating=risk, lot_size=1))
    customer = brokerage["wang"]
    account = session.scalar(select(Account).where(Account.customer_id == customer.id, Account.kind == "cash"))
    account.cash_balance = Decimal("200000")
    session.commit()
    monkeypatch.setattr(funds, "utcnow", lambda: TUESDAY_10AM)
    return customer.id, account.id


def test_a_fund_is_bought_in_the_chat_only_after_an_explicit_confirmation(session, wang):
    cid, acc = wang
    asked = service.reply(session, cid, "我想买10万的沪深300基金")
    assert "申购华夏沪深300ETF联接A（000051），金额 10.00万元，申购费 119.86 元" in asked.text
    assert "按 1 月 13 日的净值计算份额" in asked.text and "确认购买" in asked.text
    session.expire_all()
    assert session.get(Account, acc).frozen_cash == 0  # nothing placed yet
    done = service.reply(session, cid, "确认购买")
    assert "已受理" in done.text and "1 月 14 日确认" in done.text
    again = service.reply(session, cid, "确认购买")  # the same message processed twice
    assert "已受理" in again.text
    session.expire_all()
    assert session.get(Account, acc).frozen_cash == Decimal("100000.00")
    assert [o.state for o in session.scalars(select(FundOrder))] == ["placed"]


def test_a_fund_above_the_customers_level_comes_with_the_warning_and_a_recorded_confirmation(session, wang):
    cid, _ = wang
    asked = service.reply(session, cid, "我想申购2万的000008基金")
    assert "高于您目前的风险承受能力" in asked.text and "嘉实中证500ETF联接A（000008）" in asked.text
    assert session.scalars(select(SuitabilityConfirmation)).all() == []
    service.reply(session, cid, "确认购买")
    row = session.scalar(select(SuitabilityConfirmation))
    assert (row.product, row.product_risk, row.channel) == ("000008.OF", "R4", "chat")
    assert session.scalar(select(FundOrder)).suitability == "warn_confirm"


def test_a_request_that_names_no_fund_is_asked_which(session, wang):
    cid, _ = wang
    r = service.reply(session, cid, "我想买5万的基金")
    assert "6 位代码" in r.text
    assert session.scalars(select(FundOrder)).all() == []
