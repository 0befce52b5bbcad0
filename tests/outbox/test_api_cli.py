"""Staff see every message's state through the API and the CLI; operators retry dead ones."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from brokercare.cli import app as cli_app
from brokercare.core.settings import reset_settings
from brokercare.customers.service import assign_staff
from brokercare.outbox import service
from brokercare.security.models import AccessRead, User
from brokercare.security.service import create_user

PASSWORD = "Passw0rd2026"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    from argon2 import PasswordHasher

    from brokercare.security import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def world(session, sessions, people, channels, monkeypatch):
    for username, role, customer_id in (("agent01", "agent", None), ("lead01", "team_lead", None),
                                        ("cm01", "customer_manager", None), ("admin01", "admin", None),
                                        ("wangjg", "customer", people[0].id)):
        create_user(session, username=username, password=PASSWORD, role=role,
                    display_name=username, customer_id=customer_id)
    # An agent's WeChat reply that cannot be delivered: the customer unsubscribed.
    channels.configure(unsubscribed=[people[0].openid])
    reply = service.enqueue(session, channel="wechat", kind="reply", customer_id=people[0].id,
                            body="王建国您好，您的转托管申请已办理完成。", idempotency_key="reply:m:501",
                            origin="service", origin_ref="message:501")
    session.commit()
    assert service.dispatch_due(sessions)["dead"] == 1
    # A survey by SMS while no SMS gateway is configured.
    monkeypatch.delenv("BROKERCARE_SMS_URL")
    reset_settings()
    survey = service.enqueue(session, channel="sms", kind="csat_request", address="13700001111",
                             body="请为本次服务评分（1-5 分）", idempotency_key="csat:ticket:77",
                             origin="service", origin_ref="ticket:77")
    session.commit()
    return {"reply": reply.id, "survey": survey.id}


@pytest.fixture
def client(engine):
    from brokercare.api import create_app

    with TestClient(create_app()) as c:
        yield c


def login(client, username):
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_staff_list_and_bodies_by_clearance(client, world):
    assert client.get("/api/v1/outbox/messages").status_code == 401
    agent = client.get("/api/v1/outbox/messages?state=dead", headers=login(client, "agent01"))
    assert agent.status_code == 200
    [dead] = agent.json()
    assert dead["id"] == world["reply"] and dead["origin_ref"] == "message:501"
    assert dead["last_error"] == "WeChat errcode 43004: require subscribe" and dead["attempts"] == 1
    assert dead["body"] is None  # agents are not cleared for class-3 data whole
    cm = client.get(f"/api/v1/outbox/messages/{world['survey']}", headers=login(client, "cm01")).json()
    assert cm["body"] == "请为本次服务评分（1-5 分）" and cm["address_hint"] == "137****1111"
    assert cm["note"] == "held: channel sms is not configured (set BROKERCARE_SMS_URL)"
    by_ref = client.get("/api/v1/outbox/messages?origin=service&origin_ref=ticket:77",
                        headers=login(client, "admin01")).json()
    assert [m["id"] for m in by_ref] == [world["survey"]]


def test_a_customers_message_body_only_under_a_relationship(client, world, session, people):
    """A manager cleared for class 3 still reads a customer's reply only once the customer is theirs,
    and that read is ledgered; the delivery state is visible either way."""
    url = f"/api/v1/outbox/messages/{world['reply']}"
    before = client.get(url, headers=login(client, "cm01")).json()
    assert before["state"] == "dead" and before["body"] is None
    cm = session.scalar(select(User).where(User.username == "cm01"))
    assign_staff(session, people[0].id, manager_id=cm.id)
    session.commit()
    after = client.get(url, headers=login(client, "cm01")).json()
    assert after["body"] == "王建国您好，您的转托管申请已办理完成。"
    session.expire_all()
    read = session.scalars(select(AccessRead).where(AccessRead.user_id == cm.id)).all()
    assert [(r.customer_id, r.relationship, r.what) for r in read] == [
        (people[0].id, "customer_manager", f"outbox:{world['reply']}")]
    assert client.get(url, headers=login(client, "admin01")).json()["body"] is None


def test_retry_by_operators_only(client, world):
    url = f"/api/v1/outbox/messages/{world['reply']}/retry"
    assert client.post(url, headers=login(client, "agent01")).status_code == 403
    r = client.post(url, headers=login(client, "lead01"))
    assert r.status_code == 200 and r.json()["state"] == "pending" and r.json()["attempts"] == 0
    again = client.post(f"/api/v1/outbox/messages/{world['survey']}/retry", headers=login(client, "lead01"))
    assert again.status_code == 200  # pending stays pending
    assert client.post("/api/v1/outbox/messages/999999/retry",
                       headers=login(client, "lead01")).status_code == 404
    assert client.get("/api/v1/outbox/messages?state=lost",
                      headers=login(client, "lead01")).status_code == 422


def test_summary_per_channel(client, world):
    rows = {r["channel"]: r for r in client.get("/api/v1/outbox/summary",
                                                headers=login(client, "admin01")).json()}
    assert rows["wechat"]["counts"]["dead"] == 1 and rows["sms"]["counts"]["pending"] == 1
    assert rows["sms"]["configured"] is False and rows["sms"]["setting"] == "BROKERCARE_SMS_URL"


def test_quiet_hours_api(client, world, people):
    me = people[0].id
    h = login(client, "wangjg")
    r = client.put(f"/api/v1/outbox/quiet-hours/{me}", json={"start": "22:00", "end": "07:30"}, headers=h)
    assert r.status_code == 200 and r.json() == {"customer_id": me, "period": "22:00-07:30",
                                                 "source": "customer"}
    assert client.put(f"/api/v1/outbox/quiet-hours/{people[1].id}", json={"start": "22:00", "end": "07:30"},
                      headers=h).status_code == 403
    half = client.put(f"/api/v1/outbox/quiet-hours/{me}", json={"start": "22:00"}, headers=h)
    assert half.status_code == 422 and "同时设置" in half.json()["detail"]
    assert client.put(f"/api/v1/outbox/quiet-hours/{me}", json={"start": "25:00", "end": "07:00"},
                      headers=h).status_code == 422
    assert client.put("/api/v1/outbox/quiet-hours/424242", json={"start": "22:00", "end": "07:00"},
                      headers=login(client, "cm01")).status_code == 404
    cleared = client.put(f"/api/v1/outbox/quiet-hours/{me}", json={}, headers=h).json()
    assert cleared["period"] is None and cleared["source"] == "none"


def test_cli_list_and_retry(world):
    runner = CliRunner()
    out = runner.invoke(cli_app, ["outbox", "list", "--state", "dead", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["id"] for r in rows] == [world["reply"]] and rows[0]["state"] == "dead"
    retried = runner.invoke(cli_app, ["outbox", "retry", str(world["reply"]), "999999"])
    assert retried.exit_code == 1
    assert f"message {world['reply']}: pending" in retried.output
    assert "message 999999: outbox message 999999 does not exist" in retried.output
    status = runner.invoke(cli_app, ["outbox", "status", "--json"])
    wechat = next(r for r in json.loads(status.output) if r["channel"] == "wechat")
    assert wechat["counts"] == {"pending": 1, "sending": 0, "failed": 0, "dead": 0}
