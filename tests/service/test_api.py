"""The service hub through HTTP: channels in, agents' actions, role checks, clean errors."""

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from brokercare.outbox.models import OutboxMessage
from brokercare.security.auth import issue_token
from brokercare.security.service import create_user
from brokercare.service import agents
from brokercare.service.models import Message
from brokercare.service.service import set_agent_profile

from .conftest import add_user, dkim_signed
from .fakes import install

DATA = Path(__file__).parent / "data"
PASSWORD = "Service2026"


@pytest.fixture
def hub(session, brokerage, engine, monkeypatch):
    ai = install(monkeypatch)
    ai.script = {
        "投诉": ("complaint", 0.93, "angry", 0.6),
        "到账": ("transfer_status", 0.9, "anxious", 0.4),
        "担保比例": ("margin_ratio", 0.92, "calm", 0.1),
        "建议": ("feedback", 0.9, "calm", 0.1),
    }
    brokerage.complaints_agent.active = False  # the API's own complaints agent takes the chats
    # One real login goes through argon2 (create_user + /auth/token); the others get tokens
    # issued directly, which keeps these tests quick.
    users = {
        "agent": create_user(session, username="cs_chen", password=PASSWORD, role="agent",
                             display_name="陈静"),
        "lead": add_user(session, "lead_sun", role="team_lead", display_name="孙组长"),
        "customer": add_user(session, "zhangwei", role="customer", display_name="张伟"),
        "risk": add_user(session, "risk_he", role="risk", display_name="何风控"),
        "mailgw": add_user(session, "mail_gateway", role="admin", display_name="邮件网关"),
    }
    set_agent_profile(session, users["agent"].id, skills=["complaints"], max_concurrent=2)
    agents.seen(session, users["agent"].id)  # at the workbench
    users["customer"].customer_id = brokerage.mass.id
    session.commit()
    monkeypatch.setenv("BROKERCARE_WECHAT_TOKEN", "wx-token-2026")
    from brokercare.api import create_app

    with TestClient(create_app()) as client:
        client.users = users
        yield client


_tokens: dict = {}


def auth(client, who):
    user = client.users[who]
    if who == "agent":  # the real password flow
        key = (id(client), who)
        if key not in _tokens:
            r = client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            _tokens[key] = r.json()["access_token"]
        return {"Authorization": f"Bearer {_tokens[key]}"}
    return {"Authorization": f"Bearer {issue_token(user)[0]}"}


def test_customer_message_is_routed_and_answered_in_the_response(hub, session):
    r = hub.post("/api/v1/service/messages", json={"text": "我信用账户的担保比例是怎么算的？", "client_msg_id": "m-1"},
                 headers=auth(hub, "customer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "routed" and body["customer_known"]
    assert body["routing"]["outcome"] == "ai_answer" and body["replies"][0]["sender"] == "ai"
    again = hub.post("/api/v1/service/messages", json={"text": "我信用账户的担保比例是怎么算的？", "client_msg_id": "m-1"},
                     headers=auth(hub, "customer"))
    assert again.json()["status"] == "duplicate"
    assert session.scalar(select(func.count(Message.id)).where(Message.sender == "customer")) == 1
    mine = hub.get("/api/v1/service/my/messages", headers=auth(hub, "customer")).json()
    assert [m["sender"] for m in mine] == ["customer", "ai"]


def test_complaint_through_the_api_reaches_the_agent_who_replies_and_closes(hub, session):
    r = hub.post("/api/v1/service/messages", json={"text": "我要投诉！佣金被多收了，连续三个月！"},
                 headers=auth(hub, "customer"))
    body = r.json()
    # angry, so a person at once; a complaint, so a ticket as well
    assert body["routing"]["rule"] == "angry_customer" and body["assigned_agent"] == "陈静" and body["ticket_no"]
    cid = body["conversation_id"]
    agent = auth(hub, "agent")
    conv = hub.get(f"/api/v1/service/conversations/{cid}", headers=agent).json()
    assert "投诉" in conv["handoff_summary"]["text"]
    assert hub.post(f"/api/v1/service/conversations/{cid}/reply", json={"text": "张先生您好，我来核实佣金。"},
                    headers=agent).status_code == 200
    assert hub.post(f"/api/v1/service/conversations/{cid}/close", headers=agent).status_code == 200
    again = hub.post(f"/api/v1/service/conversations/{cid}/close", headers=agent)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")


def test_ticket_workflow_and_role_checks(hub):
    agent, lead, risk, cust = (auth(hub, w) for w in ("agent", "lead", "risk", "customer"))
    new = {"customer_id": hub.users["customer"].customer_id, "subject": "红利税扣款疑问",
           "description": "客户询问持股不足一个月卖出后补扣红利税的规则。", "category": "dividend_tax",
           "priority": "general", "channel": "branch"}
    assert hub.post("/api/v1/service/tickets", json=new, headers=risk).status_code == 403
    assert hub.post("/api/v1/service/tickets", json=new).status_code == 401
    r = hub.post("/api/v1/service/tickets", json=new, headers=agent)
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["department"] == "tax" and t["sla"][0]["metric"] == "first_response"
    bad = hub.post(f"/api/v1/service/tickets/{t['id']}/transition", json={"status": "closed"}, headers=agent)
    assert bad.status_code == 409 and "allowed" in bad.json()["detail"] and bad.json()["allowed"]
    ok = hub.post(f"/api/v1/service/tickets/{t['id']}/transition",
                  json={"status": "resolved", "note": "已向客户解释差别化红利税规则。"}, headers=agent)
    assert ok.status_code == 200 and ok.json()["status"] == "resolved"
    assert hub.put(f"/api/v1/service/tickets/{t['id']}/assignee", json={"assignee_id": None},
                   headers=agent).status_code == 403
    assert hub.put(f"/api/v1/service/tickets/{t['id']}/assignee", json={"assignee_id": hub.users["agent"].id},
                   headers=lead).status_code == 200
    own = hub.get(f"/api/v1/service/tickets/{t['id']}", headers=cust).json()
    assert all(e["public"] or e["kind"] == "created" for e in own["events"])
    assert hub.get("/api/v1/service/my/tickets", headers=cust).json()[0]["ticket_no"] == t["ticket_no"]


def test_wechat_push_with_signature_gets_a_passive_xml_reply(hub, session):
    ts, nonce = "1757901600", "n0nce"
    sig = hashlib.sha1("".join(sorted(["wx-token-2026", ts, nonce])).encode()).hexdigest()
    xml = (DATA / "wechat_text.xml").read_bytes()
    bad = hub.post(f"/api/v1/service/channels/wechat?signature=00&timestamp={ts}&nonce={nonce}", content=xml)
    assert bad.status_code == 403
    r = hub.post(f"/api/v1/service/channels/wechat?signature={sig}&timestamp={ts}&nonce={nonce}", content=xml)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert "<ToUserName><![CDATA[oMASS_zhangwei_77ab]]></ToUserName>" in r.text and "【AI】" in r.text
    retry = hub.post(f"/api/v1/service/channels/wechat?signature={sig}&timestamp={ts}&nonce={nonce}", content=xml)
    assert retry.text == "success"  # WeChat's retry: stored once, answered once
    echo = hub.get(f"/api/v1/service/channels/wechat?signature={sig}&timestamp={ts}&nonce={nonce}&echostr=abc")
    assert echo.text == "abc"


def test_email_and_call_gateways(hub, session):
    gw = auth(hub, "mailgw")
    r = hub.post("/api/v1/service/channels/email", content=dkim_signed((DATA / "email_margin.eml").read_bytes()), headers=gw)
    assert r.status_code == 200 and r.json()["customer_known"]
    assert session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.channel == "email")) == 1
    garbage = hub.post("/api/v1/service/channels/email", content=b"no headers at all", headers=gw)
    assert garbage.status_code == 422
    call = (DATA / "call_transcript.json").read_text("utf-8")
    r2 = hub.post("/api/v1/service/channels/phone", content=call, headers={**gw, "content-type": "application/json"})
    assert r2.status_code == 200 and r2.json()["ticket_no"]
    broken = hub.post("/api/v1/service/channels/phone", json={"call_id": "x"}, headers=gw)
    assert broken.status_code == 422 and "call transcript" in broken.json()["detail"]


def test_feedback_and_csat_over_http(hub, session):
    cust, lead = auth(hub, "customer"), auth(hub, "lead")
    r = hub.post("/api/v1/service/feedback", json={"text": "建议行情页增加北交所板块。", "channel": "app"}, headers=cust)
    assert r.status_code == 201 and r.json()["kind"] == "suggestion"
    fid = r.json()["id"]
    assert hub.put(f"/api/v1/service/feedback/{fid}/suggestion-status", json={"status": "accepted"},
                   headers=lead).json()["suggestion_status"] == "accepted"
    assert hub.post(f"/api/v1/service/feedback/{fid}/answer", json={"answer": "已采纳。"},
                    headers=lead).json()["status"] == "answered"
    bad = hub.post("/api/v1/service/csat/not-a-token", json={"score": 5})
    assert bad.status_code == 404 and bad.json()["detail"] == "评价链接无效或已过期"
    assert hub.post("/api/v1/service/csat/x", json={"score": 9}).status_code == 422
    assert hub.post("/api/v1/service/sla/check", headers=lead).json()["breached"] == 0


def test_bad_input_is_a_clear_4xx(hub):
    cust = auth(hub, "customer")
    assert hub.post("/api/v1/service/messages", json={"text": "   "}, headers=cust).status_code == 422
    assert hub.post("/api/v1/service/messages", json={"text": "你好", "channel": "branch"}, headers=cust).status_code == 403
    agent = auth(hub, "agent")
    r = hub.post("/api/v1/service/messages", json={"text": "你好", "channel": "branch"}, headers=agent)
    assert r.status_code == 422 and "identity" in r.json()["detail"]
    assert hub.get("/api/v1/service/conversations/999999", headers=agent).status_code == 404
