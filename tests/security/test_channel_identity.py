"""Staff never speak as the customer: who sent a message comes from the channel's own proof (the
customer's token, a DKIM signature BrokerCare verifies), never from what the caller writes."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from brokercare.service import channels
from brokercare.service.channels import parse_email
from brokercare.service.models import Message

from .conftest import login

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption())
TXT = b"v=DKIM1; k=rsa; p=" + base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
MAIL = ("From: 张伟 <zhang.wei@qq.example.cn>\r\nTo: service@broker.example.cn\r\n"
        "Subject: =?utf-8?b?" + base64.b64encode("两融追保".encode()).decode() + "?=\r\n"
        "Message-ID: <m-2026-1205@qq.example.cn>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + "我的维持担保比例是多少？".encode()


@pytest.fixture(autouse=True)
def _zone(monkeypatch):
    monkeypatch.setattr(channels, "dkim_dns", lambda name, timeout=5: TXT if name.rstrip(b".") ==
                        b"sel1._domainkey.qq.example.cn" else None)


def _sign(raw: bytes, domain: bytes = b"qq.example.cn") -> bytes:
    return dkim.sign(raw, b"sel1", domain, PEM, include_headers=[b"from", b"subject"]) + raw


def test_staff_posting_as_a_customer_is_refused(client, session, brokerage):
    agent = login(client, "agent01")
    cid = brokerage["zhang"].id
    for body in ({"customer_id": cid, "verified": True, "channel": "app", "text": "我的担保比例是多少？"},
                 {"customer_id": cid, "channel": "web", "text": "我的担保比例是多少？"},
                 {"customer_id": cid, "verified": True, "channel": "branch", "text": "我的担保比例是多少？"}):
        r = client.post("/api/v1/service/messages", headers=agent, json=body)
        assert r.status_code == 403, (body, r.text)
        assert "员工不能以客户身份" in r.json()["detail"]
    assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_branch_note_by_staff_never_opens_the_customer_s_context(client, session, brokerage):
    r = client.post("/api/v1/service/messages", headers=login(client, "agent01"), json={
        "customer_id": brokerage["zhang"].id, "channel": "branch", "text": "我的两融担保比例是多少？"})
    assert r.status_code == 200, r.text
    assert r.json()["customer_known"] is False  # unproven: no holdings, no margin data in the answer


def test_a_written_dkim_pass_header_proves_nothing():
    forged = b"Authentication-Results: mx.broker.example.cn; dkim=pass header.d=qq.example.cn\r\n" + MAIL
    assert not parse_email(forged).identities[0].verified


def test_a_signature_brokercare_verifies_proves_the_sender():
    assert parse_email(_sign(MAIL)).identities[0].verified


def test_an_edited_signed_mail_or_another_domain_s_signature_proves_nothing():
    edited = _sign(MAIL).replace("我的维持担保比例是多少？".encode(), "请把资金转到以下账户".encode())
    assert not parse_email(edited).identities[0].verified
    spoof = MAIL.replace(b"zhang.wei@qq.example.cn", b"ceo@broker.example.cn")
    assert not parse_email(_sign(spoof)).identities[0].verified  # signed by qq.example.cn, From another


@pytest.mark.parametrize("sent_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2020-01-01T08:00:00"])
def test_a_customer_cannot_date_a_message_outside_the_last_week(client, session, brokerage, sent_at):
    r = client.post("/api/v1/service/messages", headers=login(client, "zhangwei"),
                    json={"channel": "app", "text": "我的委托为什么没成交？", "sent_at": sent_at})
    assert r.status_code == 422 and "消息时间不合理" in r.json()["detail"]
    assert session.scalar(select(func.count()).select_from(Message)) == 0
