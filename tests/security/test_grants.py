"""Segregation of duties: one administrator alone cannot make a compliance officer or an admin."""

from __future__ import annotations

from sqlalchemy import select

from brokercare.ledger.models import LedgerEntry
from brokercare.security.service import create_user

from .conftest import PASSWORD, login


def _second_admin(session):  # made at the console, as an install's first admins are
    user = create_user(session, username="admin02", password=PASSWORD, role="admin", display_name="钱管理")
    session.commit()
    return user


def test_a_new_compliance_login_waits_for_a_second_admin(client, session, brokerage):
    admin01 = login(client, "admin01")
    r = client.post("/api/v1/security/users", headers=admin01, json={
        "username": "compliance02", "password": "Hegui-Zhuanyuan-2026", "role": "compliance", "display_name": "冯敏"})
    assert r.status_code == 201 and r.json()["active"] is False
    assert client.post("/api/v1/auth/token", data={"username": "compliance02",
                                                   "password": "Hegui-Zhuanyuan-2026"}).status_code == 401
    grant = client.get("/api/v1/security/grants", headers=admin01).json()[0]
    assert grant["role"] == "compliance" and grant["status"] == "pending"
    own = client.post(f"/api/v1/security/grants/{grant['id']}/approve", headers=admin01)
    assert own.status_code == 403 and "另一位管理员" in own.json()["detail"]

    _second_admin(session)
    ok = client.post(f"/api/v1/security/grants/{grant['id']}/approve", headers=login(client, "admin02"))
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    me = client.get("/api/v1/auth/me", headers=login(client, "compliance02", "Hegui-Zhuanyuan-2026"))
    assert me.json()["role"] == "compliance"
    kinds = session.scalars(select(LedgerEntry.kind).where(LedgerEntry.kind.like("auth.grant_%"))
                            .order_by(LedgerEntry.id)).all()
    assert kinds == ["auth.grant_requested", "auth.grant_approved"]


def test_raising_a_login_to_admin_needs_a_second_admin(client, session, brokerage):
    admin01 = login(client, "admin01")
    agent = brokerage["users"]["agent"]
    agent_token = login(client, "agent01")
    direct = client.put(f"/api/v1/security/users/{agent.id}/role", headers=admin01, json={"role": "admin"})
    assert direct.status_code == 409 and "第二位管理员" in direct.json()["detail"]
    r = client.post("/api/v1/security/grants", headers=admin01, json={"user_id": agent.id, "role": "admin"})
    assert r.status_code == 201
    assert client.get("/api/v1/auth/me", headers=agent_token).json()["role"] == "agent"  # not yet
    _second_admin(session)
    admin02 = login(client, "admin02")
    rejected = client.post(f"/api/v1/security/grants/{r.json()['id']}/reject", headers=admin02)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    again = client.post(f"/api/v1/security/grants/{r.json()['id']}/approve", headers=admin02)
    assert again.status_code == 409
    session.expire_all()
    assert session.get(type(agent), agent.id).role == "agent"
