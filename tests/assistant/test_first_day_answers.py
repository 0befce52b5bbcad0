"""What a new customer asked on the first day (issue 14 items 9-10): the way money goes decides the
answer, a price question gets the latest price with its time, and the risk reminder is said where
the answer is about investing, not on procedures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from brokercare.accounts.models import Account, Position
from brokercare.assistant import service
from brokercare.assistant.guard import HUMAN_RISK_NOTE
from brokercare.core.bus import get_bus
from brokercare.engagement.handlers import subscribe_handlers
from brokercare.engagement.models import Lead
from brokercare.market.models import Instrument, Quote
from brokercare.security.service import create_user


def test_bank_to_broker_is_answered_with_the_bank_to_broker_route(session, brokerage):
    cid = brokerage["wang"].id
    inbound = service.reply(session, cid, "怎么把钱从银行转到证券账户？")
    assert "银行转证券" in inbound.text and "证券转银行" not in inbound.text
    outbound = service.reply(session, cid, "证券账户里的钱怎么转回银行卡？")
    assert "证券转银行" in outbound.text and "银行转证券" not in outbound.text


def test_a_price_question_gets_the_latest_quote_with_its_time(session, brokerage):
    at = datetime.now(UTC) - timedelta(minutes=2)
    session.add(Quote(symbol="600519.SH", price=Decimal("1523.50"), prev_close=Decimal("1500.00"),
                      volume=1_203_400, time=at, source="feed", received_at=at))
    session.commit()
    answer = service.reply(session, brokerage["wang"].id, "贵州茅台现在多少钱")
    assert "贵州茅台（600519）" in answer.text and "1,523.50 元" in answer.text
    assert "上涨1.57%" in answer.text and "超出了我能服务的范围" not in answer.text


def test_an_old_close_is_said_to_be_one(session, brokerage):
    answer = service.reply(session, brokerage["wang"].id, "宁德时代股价多少")
    assert "宁德时代（300750）" in answer.text
    assert "参考价" in answer.text or "收盘价" in answer.text


def test_procedures_carry_no_investment_risk_reminder(session, brokerage):
    cid = brokerage["wang"].id
    for question in ("我的打新额度是多少？", "银证转账的时间是什么时候？", "什么是维持担保比例？"):
        assert HUMAN_RISK_NOTE not in service.reply(session, cid, question).text, question


def test_a_money_fund_is_not_called_a_stock_nor_a_concentration_risk(session, brokerage):
    """孙丽 keeps most of her money in a money-market fund and holds one stock: the fund is cash
    parked, not "这只股票" with a concentration warning."""
    session.add(Instrument(symbol="511990.SH", code="511990", exchange="SH", name="华宝添益", kind="fund",
                           board="money", last_price=Decimal("100.00"), risk_rating="R1", lot_size=100))
    account = session.scalar(select(Account).where(Account.customer_id == brokerage["sun"].id))
    session.add_all([Position(account_id=account.id, symbol="511990.SH", quantity=Decimal(2000),
                              available_quantity=Decimal(2000), cost_price=Decimal("100.00")),
                     Position(account_id=account.id, symbol="000001.SZ", quantity=Decimal(1000),
                              available_quantity=Decimal(1000), cost_price=Decimal("11"))])
    session.commit()
    answer = service.reply(session, brokerage["sun"].id, "我的持仓怎么样").text
    assert "持有2只证券" in answer
    assert "这只股票" not in answer and "华宝添益占持仓市值" not in answer


def test_a_worried_customer_reads_a_short_answer_without_derivatives(session, brokerage):
    """王芳 (C3) is anxious about her losses: on a phone she gets the figures, then at most three
    options one per line, and no 股指期货 or 期权."""
    answer = service.reply(session, brokerage["wang"].id, "亏了这么多，我好慌，怎么办啊").text
    assert "股指期货" not in answer and "期权" not in answer
    options = [line for line in answer.splitlines() if line[:2] in ("1.", "2.", "3.", "4.", "5.")]
    assert 1 <= len(options) <= 3, answer


def test_a_study_abroad_need_goes_to_the_manager_as_a_lead(session, brokerage):
    """"孩子明年要出国留学，想配置点美元资产" is not a rebalancing question: the customer hears that
    their manager 陈静 will call about it, and 陈静 gets one lead (a second mention inside the
    need's cool-down raises no other)."""
    subscribe_handlers(get_bus())
    manager = create_user(session, username="cm_chen", password="Passw0rd2026", role="customer_manager",
                          display_name="陈静")
    brokerage["wang"].manager_id = manager.id
    session.commit()
    answer = service.reply(session, brokerage["wang"].id, "孩子明年要出国留学，想配置点美元资产").text
    session.commit()
    assert "客户经理陈静" in answer and "外币资产配置" in answer
    assert "不需要调仓" not in answer and "继续持有" not in answer
    again = service.reply(session, brokerage["wang"].id, "想买点美元资产，孩子出国读书要用").text
    session.commit()
    assert "客户经理陈静" in again  # heard again, passed on again, but the lead is not raised twice
    leads = session.scalars(select(Lead).where(Lead.customer_id == brokerage["wang"].id)).all()
    assert [(lead.need, lead.manager_id, lead.state) for lead in leads] == [("foreign_currency", manager.id, "new")]
    assert "出国留学" in leads[0].reason and leads[0].talking_points


def test_staff_asking_on_a_customers_behalf_raise_no_lead(session, brokerage):
    subscribe_handlers(get_bus())
    service.reply(session, brokerage["wang"].id, "孩子明年要出国留学，想配置点美元资产", on_behalf=True)
    session.commit()
    assert session.scalars(select(Lead)).all() == []
