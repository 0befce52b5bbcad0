"""Logging in, tokens, and role checks as a broker's staff and customers meet them."""

from __future__ import annotations

import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from brokercare.api import create_app
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.ledger.models import LedgerEntry
from brokercare.security.auth import _signing_key, issue_token
from brokercare.security.policy import Principal, current_user, require_roles
from brokercare.security.service import authenticate, create_user, list_users, unlock
from brokercare.service.service import agent_profile, set_agent_profile

from .conftest import PASSWORD, login


def test_password_is_stored_as_argon2id(session, brokerage):
    user = brokerage["users"]["agent"]
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert authenticate(session, "AGENT01", PASSWORD).id == user.id  # usernames are case-insensitive


def test_login_and_me(client, brokerage):
    headers = login(client, "compliance01")
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["role"] == "compliance"
    assert me.json()["role_label"] == "合规专员"


def test_wrong_password_is_401_problem(client, brokerage):
    r = client.post("/api/v1/auth/token", data={"username": "agent01", "password": "wrong-Passw0rd"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"].startswith("用户名或密码错误")
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == r.json()["detail"]  # no hint which usernames exist


def test_missing_forged_and_expired_tokens_are_401(client, brokerage):
    r = client.get("/api/v1/auth/me")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "请先登录" in r.json()["detail"]
    forged = jwt.encode({"sub": str(brokerage["users"]["admin"].id), "role": "admin", "iss": "brokercare",
                         "exp": 4102444800}, "not-the-secret", algorithm="HS256")
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and "无效" in r.json()["detail"]
    expired = jwt.encode({"sub": str(brokerage["users"]["admin"].id), "role": "admin", "iss": "brokercare",
                          "exp": 1000}, _signing_key(), algorithm="HS256")
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "过期" in r.json()["detail"]


def test_deactivated_user_token_stops_working(client, session, brokerage):
    headers = login(client, "advisor01")
    user = brokerage["users"]["advisor"]
    user.active = False
    session.commit()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": "advisor01", "password": PASSWORD})
    assert r.status_code == 401


def test_require_roles_gives_403_in_chinese(engine, session, brokerage):
    app: FastAPI = create_app()

    @app.get("/probe")
    def probe(user: Principal = Depends(require_roles("compliance", "admin"))) -> dict:
        return {"ok": user.username}

    with TestClient(app) as c:
        ok = c.get("/probe", headers=login(c, "compliance01"))
        assert ok.status_code == 200 and ok.json() == {"ok": "compliance01"}
        denied = c.get("/probe", headers=login(c, "agent01"))
        assert denied.status_code == 403
        assert denied.headers["content-type"].startswith("application/problem+json")
        assert "客服坐席" in denied.json()["detail"] and "合规专员" in denied.json()["detail"]
        assert c.get("/probe").status_code == 401


def test_token_carries_role_and_customer(session, brokerage):
    token, lifetime = issue_token(brokerage["users"]["zhang"])
    claims = jwt.decode(token, _signing_key(), algorithms=["HS256"], issuer="brokercare")
    assert claims["role"] == "customer" and claims["cid"] == brokerage["zhang"].id
    assert lifetime == 480 * 60
    assert current_user is not None


def test_create_user_rejects_bad_input_and_writes_nothing(session, brokerage):
    before = len(list_users(session, include_inactive=True))
    with pytest.raises(ValidationFailed, match="unknown role"):
        create_user(session, username="wangfang", password=PASSWORD, role="trader", display_name="王芳")
    with pytest.raises(ValidationFailed, match="at least 8"):
        create_user(session, username="wangfang", password="abc1", role="agent", display_name="王芳")
    with pytest.raises(ValidationFailed, match="needs the customer id"):
        create_user(session, username="wangfang", password=PASSWORD, role="customer", display_name="王芳")
    with pytest.raises(ValidationFailed, match="cannot be linked"):
        create_user(session, username="wangfang", password=PASSWORD, role="agent", display_name="王芳",
                    customer_id=brokerage["zhang"].id)
    with pytest.raises(Conflict, match="already taken"):
        create_user(session, username="Agent01", password=PASSWORD, role="agent", display_name="王芳")
    with pytest.raises(Conflict, match="already has a login"):
        create_user(session, username="zhang2", password=PASSWORD, role="customer", display_name="张伟",
                    customer_id=brokerage["zhang"].id)
    with pytest.raises(NotFound):
        create_user(session, username="ghost", password=PASSWORD, role="customer", display_name="某人",
                    customer_id=999999)
    session.commit()
    assert len(list_users(session, include_inactive=True)) == before


def test_staff_routing_fields(session):
    u = create_user(session, username="agent_margin", password=PASSWORD, role="agent", display_name="赵敏",
                    branch_code="B001")
    set_agent_profile(session, u.id, skills=["margin", "trading"])  # the hub keeps the routing fields
    session.commit()
    p = agent_profile(session, u.id)
    assert p.skills == ["margin", "trading"] and u.branch_code == "B001" and p.max_concurrent == 5


def test_five_wrong_passwords_lock_the_login(client, session, brokerage):
    for _ in range(5):
        r = client.post("/api/v1/auth/token", data={"username": "lina", "password": "Wrong-0000"})
        assert r.status_code == 401 and r.json()["detail"].startswith("用户名或密码错误")
    locked = client.post("/api/v1/auth/token", data={"username": "lina", "password": PASSWORD})
    assert locked.status_code == 401
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert locked.json()["detail"] == unknown.json()["detail"]  # a lock tells nobody the login exists
    assert "锁定" in locked.json()["detail"]
    entry = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "auth.locked"))
    assert entry is not None and entry.subject == f"user:{brokerage['users']['li'].id}"

    user = brokerage["users"]["li"]
    session.refresh(user)
    unlock(session, user)
    session.commit()
    assert client.post("/api/v1/auth/token", data={"username": "lina", "password": PASSWORD}).status_code == 200
    session.refresh(user)
    assert user.last_login_at is not None and user.failed_logins == 0


def test_a_success_resets_the_failure_count(client, session, brokerage):
    for _ in range(4):
        client.post("/api/v1/auth/token", data={"username": "risk01", "password": "Wrong-0000"})
    assert client.post("/api/v1/auth/token", data={"username": "risk01", "password": PASSWORD}).status_code == 200
    for _ in range(4):
        client.post("/api/v1/auth/token", data={"username": "risk01", "password": "Wrong-0000"})
    assert client.post("/api/v1/auth/token", data={"username": "risk01", "password": PASSWORD}).status_code == 200
