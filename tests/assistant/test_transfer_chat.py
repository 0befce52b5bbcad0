"""A verified customer moves money in the chat: the assistant gets the direction right, says what it
will do with the card and the amount, and does it only on an explicit "确认转账"."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from brokercare.accounts import transfers
from brokercare.accounts.models import Account, BankTransfer
from brokercare.assistant import service
from brokercare.assistant.replies import transfer_direction
from brokercare.security.service import get_cipher

TUESDAY_10AM = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("text, direction", [
    ("帮我转5万到银行卡", "out"),
    ("把10万转回银行", "out"),
    ("我要取出3000元", "out"),
    ("提现2万到招行卡上", "out"),
    ("从工行转2万到证券账户", "in"),
    ("转入一万块", "in"),
    ("银行卡里的5万转到股票账户", "in"),
    ("茅台今天跌了3.5%，我想转3万5进去补仓", "in"),
    ("转5万", None),
])
def test_the_direction_is_read_from_how_customers_say_it(text, direction):
    assert transfer_direction(text) == direction


@pytest.fixture
def wang(session, brokerage, monkeypatch):
    customer = brokerage["wang"]
    account = session.scalar(select(Account).where(Account.customer_id == customer.id,
                                                   Account.kind == "cash"))
    account.bank_card_enc = get_cipher(session).encrypt("6225880112345678")
    account.cash_balance = Decimal("80000")
    session.commit()
    monkeypatch.setattr(transfers, "utcnow", lambda: TUESDAY_10AM)
    return customer.id, account.id


def test_out_to_the_bank_card_only_after_an_explicit_confirmation(session, wang):
    cid, acc = wang
    asked = service.reply(session, cid, "帮我转5万到银行卡")
    assert "从证券账户转出到招商银行（尾号5678）的银行卡" in asked.text and "5.00万元" in asked.text
    assert "确认转账" in asked.text
    session.expire_all()
    assert session.get(Account, acc).frozen_cash == 0  # nothing happened yet
    done = service.reply(session, cid, "确认转账")
    assert "证券转银行 5.00万元" in done.text and "已经办理成功" in done.text
    session.expire_all()
    assert session.get(Account, acc).cash_balance == Decimal("30000.00")
    again = service.reply(session, cid, "确认转账")  # the same message processed twice
    assert "证券转银行 5.00万元" in again.text
    session.expire_all()
    assert session.get(Account, acc).cash_balance == Decimal("30000.00")
    assert len(session.scalars(select(BankTransfer)).all()) == 1


def test_a_question_about_a_past_transfer_starts_nothing(session, wang):
    cid, _ = wang
    service.reply(session, cid, "昨天转出的3万块怎么还没到银行卡？")
    assert session.scalars(select(BankTransfer)).all() == []
    assert "请问是从银行卡转入证券账户，还是从证券账户转出到银行卡" in service.reply(session, cid, "帮我转5万").text


def test_too_much_out_is_refused_with_the_reason(session, wang):
    cid, _ = wang
    r = service.reply(session, cid, "帮我转10万到银行卡")
    assert "这笔转账现在办理不了" in r.text and "可转出资金为" in r.text
    assert service.reply(session, cid, "确认转账").text.count("已经办理成功") == 0
