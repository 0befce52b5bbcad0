"""Administrators manage logins through the API; every change is in the ledger."""

from __future__ import annotations

from sqlalchemy import select

from brokercare.ledger.models import LedgerEntry

from .conftest import PASSWORD, login


def test_admin_creates_unlocks_and_deactivates_logins(client, session, brokerage):
    admin = login(client, "admin01")
    body = {"username": "agent07", "password": "Zuoxi-2026", "role": "agent", "display_name": "何静",
            "skills": ["margin", "trading"], "branch_code": "B001"}
    created = client.post("/api/v1/security/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    assert created.json()["skills"] == ["margin", "trading"]
    assert client.post("/api/v1/security/users", json=body, headers=admin).status_code == 409
    weak = client.post("/api/v1/security/users", json={**body, "username": "agent08", "password": "abcdefgh"},
                       headers=admin)
    assert weak.status_code == 422 and "字母和数字" in weak.json()["detail"]
    assert client.post("/api/v1/security/users", json={**body, "username": "agent09"},
                       headers=login(client, "team_lead01")).status_code == 403

    for _ in range(5):
        client.post("/api/v1/auth/token", data={"username": "agent07", "password": "Wrong-0000"})
    assert client.post("/api/v1/auth/token", data={"username": "agent07", "password": "Zuoxi-2026"}).status_code == 401
    unlocked = client.post(f"/api/v1/security/users/{uid}/unlock", headers=login(client, "team_lead01"))
    assert unlocked.status_code == 200
    token = client.post("/api/v1/auth/token", data={"username": "agent07", "password": "Zuoxi-2026"})
    assert token.status_code == 200
    agent_headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=agent_headers).status_code == 200

    gone = client.post(f"/api/v1/security/users/{uid}/deactivate", headers=admin)
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert client.get("/api/v1/auth/me", headers=agent_headers).status_code == 401
    me = client.get("/api/v1/auth/me", headers=admin).json()
    assert client.post(f"/api/v1/security/users/{me['id']}/deactivate", headers=admin).status_code == 409
    assert client.post("/api/v1/security/users/999999/unlock", headers=admin).status_code == 404

    kinds = list(session.scalars(select(LedgerEntry.kind).order_by(LedgerEntry.id)))
    assert kinds == ["auth.user_created", "auth.locked", "auth.unlocked", "auth.user_deactivated"]
    assert PASSWORD not in str(list(session.scalars(select(LedgerEntry.body))))


def test_an_admin_cannot_make_a_login_to_sign_in_as_a_customer(client, session, brokerage):
    from sqlalchemy import func, select

    from brokercare.security.models import User

    before = session.scalar(select(func.count()).select_from(User))
    admin = login(client, "admin01")
    for body in ({"username": "zw_shadow", "password": "Yingzi-2026x", "role": "customer",
                  "display_name": "张伟", "customer_id": brokerage["zhang"].id},
                 {"username": "zw_shadow", "password": "Yingzi-2026x", "role": "agent",
                  "display_name": "张伟", "customer_id": brokerage["zhang"].id}):
        r = client.post("/api/v1/security/users", headers=admin, json=body)
        assert r.status_code == 403 and "开户流程" in r.json()["detail"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(User)) == before
