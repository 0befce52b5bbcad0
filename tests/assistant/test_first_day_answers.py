"""What a new customer asked on the first day (issue 14 items 9-10): the way money goes decides the
answer, a price question gets the latest price with its time, and the risk reminder is said where
the answer is about investing, not on procedures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from brokercare.assistant import service
from brokercare.assistant.guard import HUMAN_RISK_NOTE
from brokercare.market.models import Quote


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
