"""The hub's replies leave through the platform's one outbox and its dispatcher: an agent's WeChat
reply reaches the customer's openid once, and one the gateway cannot deliver shows as undelivered
in the conversation the agent is looking at."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from tests.outbox.gateways import HttpGateway

from brokercare.core.settings import reset_settings
from brokercare.outbox import service as outbox
from brokercare.outbox.models import OutboxMessage
from brokercare.service import service as conv_svc
from brokercare.service.channels import Identity, from_json_message
from brokercare.web.pages import templates

from .conftest import OPEN_HOURS
from .fakes import install, scripted_analysis

OPENID = "oMASS_zhangwei_77ab"


@pytest.fixture
def wechat_gateway(monkeypatch):
    gateway = HttpGateway()
    for key, value in {"BROKERCARE_WECHAT_API_BASE": gateway.url, "BROKERCARE_WECHAT_APPID": "wx-test-app",
                       "BROKERCARE_WECHAT_SECRET": "wx-test-secret", "BROKERCARE_OUTBOX_TIMEOUT_S": "2",
                       "BROKERCARE_OUTBOX_BACKOFF_S": "0.05", "BROKERCARE_OUTBOX_MAX_ATTEMPTS": "3"}.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield gateway
    gateway.close()


def complaint_on_wechat(session, brokerage):
    msg = from_json_message("wechat", "我要投诉你们营业部乱收费！", identities=[Identity("wechat_openid", OPENID, True)])
    got = conv_svc.ingest(session, msg, now=OPEN_HOURS)
    out = conv_svc.process(session, got.first_customer_message.id, now=OPEN_HOURS,
                           analysis=scripted_analysis((("complaint", 0.95),), "angry", 0.4))
    session.commit()
    assert out.agent.id == brokerage.complaints_agent.id
    return out.conversation


def thread_html(session, conversation_id):
    messages = conv_svc.messages_of(session, conversation_id)
    return templates.get_template("_thread.html").render(
        messages=messages, deliveries=conv_svc.delivery_of(session, messages))


def test_an_agents_wechat_reply_reaches_the_customer_once(session, engine, brokerage, monkeypatch, wechat_gateway):
    install(monkeypatch)
    conv = complaint_on_wechat(session, brokerage)
    reply = conv_svc.agent_reply(session, conv.id, brokerage.complaints_agent,
                                 "张先生您好，我是投诉专员陈洁，已收到您的反映，正在核实收费明细。",
                                 now=OPEN_HOURS + timedelta(minutes=3))
    session.commit()
    assert "待发送" in thread_html(session, conv.id)
    counts = outbox.dispatch_due(sessionmaker(engine, expire_on_commit=False))
    assert counts["sent"] >= 1
    outbox.dispatch_due(sessionmaker(engine, expire_on_commit=False))  # nothing is sent twice
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.origin_ref == f"message:{reply.id}"))
    session.refresh(row)
    assert row.state == "sent" and wechat_gateway.requests[row.idempotency_key] == 1
    delivered = wechat_gateway.delivered[row.idempotency_key]
    assert OPENID in str(delivered) and "陈洁" in str(delivered)
    html = thread_html(session, conv.id)
    assert "已发出" in html and "微信" in html and "· wechat ·" not in html


def test_a_reply_the_gateway_cannot_deliver_shows_as_undelivered(session, engine, brokerage, monkeypatch,
                                                                  wechat_gateway):
    install(monkeypatch)
    wechat_gateway.configure(unsubscribed=[OPENID])  # the customer unfollowed the official account
    conv = complaint_on_wechat(session, brokerage)
    conv_svc.agent_reply(session, conv.id, brokerage.complaints_agent, "您好，费用明细已核实，多收的佣金将退回。",
                         now=OPEN_HOURS + timedelta(minutes=3))
    session.commit()
    outbox.dispatch_due(sessionmaker(engine, expire_on_commit=False))
    html = thread_html(session, conv.id)
    assert "未送达，请改用其他方式联系客户" in html
    assert 'data-delivery="dead"' in html
