"""Tokens that stop working when they should, and step-up codes (RFC 6238 TOTP) where the role or
the act needs them."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from brokercare.core.settings import reset_settings
from brokercare.customers.service import assign_staff
from brokercare.ledger.models import LedgerEntry
from brokercare.security import stepup
from brokercare.security.service import change_role

from .conftest import PASSWORD, login


@pytest.fixture
def step_up_on(monkeypatch):
    monkeypatch.setenv("BROKERCARE_STEP_UP", "true")
    reset_settings()


def _me(client, headers) -> int:
    return client.get("/api/v1/auth/me", headers=headers).status_code


def test_logout_revokes_the_token(client, brokerage):
    headers = login(client, "zhangwei")
    assert _me(client, headers) == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    r = client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401 and "已失效" in r.json()["detail"]
    assert _me(client, login(client, "zhangwei")) == 200  # a new login works


def test_a_password_change_revokes_every_earlier_token(client, brokerage):
    phone, web = login(client, "lina"), login(client, "lina")
    r = client.post("/api/v1/auth/password", headers=phone,
                    json={"current_password": PASSWORD, "new_password": "Xinmima-2027q"})
    assert r.status_code == 204, r.text
    assert _me(client, phone) == 401 and _me(client, web) == 401
    assert client.post("/api/v1/auth/token", data={"username": "lina", "password": PASSWORD}).status_code == 401
    assert _me(client, login(client, "lina", "Xinmima-2027q")) == 200


def test_a_role_change_revokes_the_token_and_is_ledgered(client, session, brokerage):
    headers = login(client, "agent01")
    admin = login(client, "admin01")
    agent = brokerage["users"]["agent"]
    r = client.put(f"/api/v1/security/users/{agent.id}/role", headers=admin, json={"role": "team_lead"})
    assert r.status_code == 200 and r.json()["role"] == "team_lead"
    assert _me(client, headers) == 401
    kinds = session.scalars(select(LedgerEntry.kind).where(LedgerEntry.subject == f"user:{agent.id}")).all()
    assert "auth.role_changed" in kinds and "auth.tokens_revoked" in kinds
    with pytest.raises(Exception, match="staff"):
        change_role(session, brokerage["users"]["zhang"], "admin", by_user_id=1)


def test_compliance_needs_an_authenticator_then_a_fresh_code(client, session, brokerage, step_up_on):
    r = client.post("/api/v1/auth/token", data={"username": "compliance01", "password": PASSWORD})
    assert r.status_code == 401 and "绑定" in r.json()["detail"]  # none bound yet
    user = brokerage["users"]["compliance"]
    uri = stepup.enroll(session, user)
    session.commit()
    totp = pyotp.parse_uri(uri)
    assert uri.startswith("otpauth://totp/BrokerCare:compliance01")
    no_code = client.post("/api/v1/auth/token", data={"username": "compliance01", "password": PASSWORD})
    assert no_code.status_code == 401 and "动态口令" in no_code.json()["detail"]
    wrong = client.post("/api/v1/auth/token",
                        data={"username": "compliance01", "password": PASSWORD, "otp": "000000"})
    assert wrong.status_code == 401
    code = totp.now()
    ok = client.post("/api/v1/auth/token", data={"username": "compliance01", "password": PASSWORD, "otp": code})
    assert ok.status_code == 200, ok.text
    replay = client.post("/api/v1/auth/token",
                         data={"username": "compliance01", "password": PASSWORD, "otp": code})
    assert replay.status_code == 401  # a code is good once
    assert user.totp_secret_enc and totp.secret not in user.totp_secret_enc  # sealed
    assert _me(client, login(client, "agent01")) == 200  # other roles: password only


def test_revealing_personal_data_needs_a_fresh_code(client, session, brokerage, step_up_on):
    manager = login(client, "customer_manager01")
    zid = brokerage["zhang"].id
    assign_staff(session, zid, manager_id=brokerage["users"]["customer_manager"].id)
    session.commit()
    url = f"/api/v1/security/customers/{zid}/pii?reveal=true&reason=开户资料复核"
    unbound = client.get(url, headers=manager)
    assert unbound.status_code == 422 and "绑定" in unbound.json()["detail"]
    totp = pyotp.parse_uri(stepup.enroll(session, brokerage["users"]["customer_manager"]))
    session.commit()
    assert client.get(url, headers={**manager, "X-OTP": "123456"}).status_code == 401
    whole = client.get(url, headers={**manager, "X-OTP": totp.now()})
    assert whole.status_code == 200 and whole.json()["id_number"] == "110105199003071234"
    masked = client.get(f"/api/v1/security/customers/{zid}/pii", headers=manager)
    assert masked.status_code == 200 and masked.json()["id_number"] != "110105199003071234"
    own = client.get(f"/api/v1/security/customers/{zid}/pii?reveal=true", headers=login(client, "zhangwei"))
    assert own.status_code == 200  # a customer reading themself needs no step-up
