"""The customer, profile, account, position and margin endpoints as staff and customers use them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from brokerage import NOW, Brokerage
from fastapi.testclient import TestClient
from tests.relationships import serve

from brokercare.api import create_app
from brokercare.customers import batch
from brokercare.customers.service import assign_staff
from brokercare.security.service import create_user, get_user_by_username

PASSWORD = "Passw0rd2026"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr("brokercare.security.auth._hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def world(session):
    b = Brokerage(session)
    zhang, cash_acct = b.customer(name="张伟", phone="13812345678", id_number="110105199003071234",
                                  cash="800000.00")
    b.hold(cash_acct, "600519.SH", "200", "1400")
    b.hold(cash_acct, "300750.SZ", "1000", "300")
    b.trade(cash_acct, "600519.SH", "buy", "100", "1450", NOW - timedelta(days=3))
    margin = b.margin(zhang, cash="10000.00", financing="200000.00", credit_limit="500000.00")
    b.hold(margin, "688981.SH", "3000", "80")
    li, li_acct = b.customer(name="李娜", phone="13987654321", id_number="310104198507152345",
                             cash="30000.00")
    users = {role: create_user(session, username=f"{role}01", password=PASSWORD, role=role,
                               display_name=role)
             for role in ("agent", "advisor", "customer_manager", "compliance", "admin")}
    users["zhang"] = create_user(session, username="zhangwei", password=PASSWORD, role="customer",
                                 display_name="张伟", customer_id=zhang.id)
    session.commit()
    batch.run(session.get_bind())
    return {"zhang": zhang, "li": li, "cash": cash_acct, "margin": margin, "li_acct": li_acct}


@pytest.fixture
def client(engine):
    with TestClient(create_app()) as c:
        yield c


def auth(client, username: str) -> dict:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_staff_find_a_customer_by_phone_id_number_name_or_number(client, world) -> None:
    h = auth(client, "customer_manager01")
    for q in ("13812345678", "110105199003071234", "张伟", world["zhang"].customer_no):
        r = client.get("/api/v1/customers", params={"q": q}, headers=h)
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()["items"]] == [world["zhang"].id], q
    r = client.get("/api/v1/customers", params={"limit": 1, "offset": 1}, headers=h)
    assert r.json()["total"] == 2 and [c["id"] for c in r.json()["items"]] == [world["li"].id]
    masked = client.get("/api/v1/customers", params={"q": "张伟"}, headers=auth(client, "agent01"))
    assert masked.json()["items"][0]["name"] == "张*"


def test_profile_shows_tier_tags_and_features_and_masks_pii_by_role(client, world, session) -> None:
    cid = world["zhang"].id
    serve(session, get_user_by_username(session, "agent01"), cid)  # agent01 is serving 张伟
    agent = client.get(f"/api/v1/customers/{cid}/profile", headers=auth(client, "agent01"))
    assert agent.status_code == 200, agent.text
    body = agent.json()
    assert body["tier"] == "mass" and body["tier_label"] == "大众客户"
    assert {"key": "margin_high_risk", "label": "两融高风险"}.items() <= next(
        t for t in body["tags"] if t["key"] == "margin_high_risk").items()
    assert body["pii"]["id_number"] == "110***********1234"
    assert body["pii"]["phone"] == "138****5678"
    assert body["aum"] is None and "aum" in body["withheld_features"]
    assert body["features"]["trade_count_30d"] == 1        # class 2: agents see it

    comp = client.get(f"/api/v1/customers/{cid}/profile", params={"reason": "反洗钱复核"},
                      headers=auth(client, "compliance01")).json()
    assert comp["pii"]["id_number"] == "110105199003071234"
    assert comp["aum"] == "1430000.00"  # 810,000 cash + 820,000 holdings - 200,000 debt
    assert comp["features"]["maintenance_ratio"] == 1.4 and comp["withheld_features"] == []


def test_a_customer_sees_only_themself(client, world) -> None:
    h = auth(client, "zhangwei")
    own = client.get(f"/api/v1/customers/{world['zhang'].id}/profile", headers=h)
    assert own.status_code == 200 and own.json()["pii"]["id_number"] == "110105199003071234"
    for path in (f"/api/v1/customers/{world['li'].id}/profile", f"/api/v1/customers/{world['li'].id}",
                 f"/api/v1/customers/{world['li'].id}/accounts",
                 f"/api/v1/accounts/{world['li_acct'].id}/positions", "/api/v1/customers"):
        r = client.get(path, headers=h)
        assert r.status_code == 403, path
        assert r.headers["content-type"].startswith("application/problem+json")


def test_unknown_ids_are_404_problems_and_no_token_is_401(client, world) -> None:
    h = auth(client, "compliance01")
    r = client.get("/api/v1/customers/999999/profile", params={"reason": "核对监管报送数据"}, headers=h)
    assert r.status_code == 404 and "客户不存在" in r.json()["detail"]
    r = client.get("/api/v1/accounts/999999/margin", headers=h)
    assert r.status_code == 404 and "资金账户不存在" in r.json()["detail"]
    assert client.get("/api/v1/customers/abc", headers=h).status_code == 422
    assert client.get(f"/api/v1/customers/{world['zhang'].id}").status_code == 401


def test_positions_are_valued_at_last_price_with_pnl(client, world) -> None:
    r = client.get(f"/api/v1/accounts/{world['cash'].id}/positions", headers=auth(client, "zhangwei"))
    assert r.status_code == 200, r.text
    by_symbol = {p["symbol"]: p for p in r.json()}
    moutai = by_symbol["600519.SH"]
    assert (moutai["name"], moutai["market_value"], moutai["pnl"], moutai["pnl_pct"]) == (
        "贵州茅台", "300000.00", "20000.00", "0.0714")
    assert by_symbol["300750.SZ"]["pnl"] == "-50000.00"


def test_margin_status_gives_the_ratio_and_distance_to_each_line(client, world, session) -> None:
    assign_staff(session, world["zhang"].id, manager_id=get_user_by_username(session, "customer_manager01").id)
    session.commit()
    h = auth(client, "customer_manager01")
    r = client.get(f"/api/v1/accounts/{world['margin'].id}/margin", headers=h)
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["total_assets"] == "280000.00" and m["total_liabilities"] == "200000.00"
    assert m["maintenance_ratio"] == "1.4000" and m["to_warning"] == "0.0000"
    assert m["to_liquidation"] == "0.1000" and m["to_withdrawal"] == "-1.6000"
    assert m["state"] == "normal" and m["top_up_to_warning"] == "0.00"
    r = client.get(f"/api/v1/accounts/{world['cash'].id}/margin", headers=h)
    assert r.status_code == 409 and "不是信用账户" in r.json()["detail"]


def test_staff_read_holdings_only_through_a_relationship(client, world, session) -> None:
    path = f"/api/v1/accounts/{world['cash'].id}/positions"
    agent, adv = auth(client, "agent01"), auth(client, "advisor01")
    assert client.get(path, headers=agent).status_code == 403
    refused = client.get(path, params={"reveal": "true"}, headers=adv)
    assert refused.status_code == 403 and "签约投顾" in refused.json()["detail"]  # asking louder is no relationship
    assign_staff(session, world["zhang"].id, advisor_id=get_user_by_username(session, "advisor01").id)
    session.commit()
    serve(session, get_user_by_username(session, "agent01"), world["zhang"].id)
    assert client.get(path, headers=adv).status_code == 200
    assert client.get(path, headers=agent).status_code == 200
