"""Personal numbers a customer types into the chat: masked for staff, the assistant and the logs,
kept whole only sealed by the field cipher."""

from __future__ import annotations

import logging

from sqlalchemy import select
from tests.relationships import serve

from brokercare.security.crypto import get_cipher
from brokercare.security.pii_in_text import id_number_ok, luhn_ok
from brokercare.security.service import redact_typed_pii as redact
from brokercare.service.models import Message

from .conftest import login

# Valid by construction: GB 11643 check character, Luhn check digit (see the checks below).
ID_NUMBER = "110105199003071239"
CARD = "6222021234567891233"
PHONE = "13812345678"


def test_the_sample_numbers_are_valid_and_near_misses_are_not():
    assert id_number_ok(ID_NUMBER) and luhn_ok(CARD)
    assert not id_number_ok("110105199003071234")  # wrong check character
    assert not id_number_ok("110105199013071239")  # month 13
    assert not luhn_ok("6222021234567891234")


def test_redaction_masks_valid_numbers_and_leaves_order_numbers_and_amounts():
    text = (f"身份证{ID_NUMBER}，卡号 6222 0212 3456 7891 233，手机 +86 138-1234-5678。"
            "订单号 202612050000123456，成交金额 1234567.89 元，错号 110105199003071234")
    out = redact(text)
    assert out.found == ["id_number", "bank_card", "phone"]
    assert ID_NUMBER not in out.text and "0212 3456 7891" not in out.text and "1234-5678" not in out.text
    assert "110***********1239" in out.text and "622202*********1233" in out.text and "138****5678" in out.text
    assert "202612050000123456" in out.text and "1234567.89" in out.text and "110105199003071234" in out.text


def test_numbers_typed_into_the_chat_reach_nobody_in_clear(client, session, brokerage, caplog):
    typed = f"你好，我的身份证号码是{ID_NUMBER}，银行卡{CARD}，手机{PHONE}，帮我查一下三方存管绑定的是哪张卡"
    customer = login(client, "zhangwei")
    with caplog.at_level(logging.DEBUG):
        r = client.post("/api/v1/service/messages", headers=customer, json={"channel": "app", "text": typed})
    assert r.status_code == 200, r.text
    body = r.text
    for secret in (ID_NUMBER, CARD, PHONE):
        assert secret not in body  # the assistant's answer and the echo
        assert all(secret not in rec.getMessage() for rec in caplog.records)

    conv_id = r.json()["conversation_id"]
    serve(session, brokerage["users"]["agent"], brokerage["zhang"].id)  # agent01 takes the conversation
    staff = client.get(f"/api/v1/service/conversations/{conv_id}/messages", headers=login(client, "agent01"))
    assert staff.status_code == 200
    texts = [m["text"] for m in staff.json()]
    assert any("110***********1239" in t and "622202*********1233" in t and "138****5678" in t for t in texts)
    assert not any(s in t for t in texts for s in (ID_NUMBER, CARD, PHONE))

    session.expire_all()
    stored = session.scalar(select(Message).where(Message.conversation_id == conv_id,
                                                  Message.sender == "customer"))
    assert ID_NUMBER not in stored.text
    assert stored.text_enc is not None and ID_NUMBER not in stored.text_enc
    assert get_cipher(session).decrypt(stored.text_enc) == typed


def test_a_message_without_personal_numbers_is_stored_as_typed(client, session, brokerage):
    text = "订单 202612050000123456 的成交价是多少？"
    r = client.post("/api/v1/service/messages", headers=login(client, "lina"), json={"channel": "app", "text": text})
    assert r.status_code == 200, r.text
    session.expire_all()
    stored = session.scalar(select(Message).where(Message.id == r.json()["message_id"]))
    assert stored.text == text and stored.text_enc is None
