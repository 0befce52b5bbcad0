"""The advisory API with real logins: who may do what, and what the customer sees."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.advisory.test_questionnaire import STEADY

from brokercare.accounts.models import Account, Position
from brokercare.advisory import catalogue
from brokercare.advisory.models import SuitabilityConfirmation
from brokercare.api import create_app
from brokercare.customers.service import assign_staff
from brokercare.market.models import Instrument
from brokercare.security.service import create_user, get_user_by_username

PASSWORD = "Passw0rd2026"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr("brokercare.security.auth._hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def world(session, customer_factory):
    wang = customer_factory(birth=date(1985, 5, 1))
    zhao = customer_factory(birth=date(1960, 1, 1))
    create_user(session, username="wang", password=PASSWORD, role="customer", display_name="王", customer_id=wang.id)
    create_user(session, username="adv01", password=PASSWORD, role="advisor", display_name="投顾")
    create_user(session, username="agent01", password=PASSWORD, role="agent", display_name="坐席")
    session.commit()
    return {"wang": wang, "zhao": zhao}


@pytest.fixture
def client(engine):
    with TestClient(create_app()) as c:
        yield c


def login(client, username):
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_customer_takes_the_questionnaire_and_confirms_a_warning(client, world, session):
    me = login(client, "wang")
    cid = world["wang"].id
    assert client.get("/api/v1/advisory/questionnaire").status_code == 401
    q = client.get("/api/v1/advisory/questionnaire", headers=me).json()
    assert len(q["questions"]) == 13 and q["validity_months"] == 24

    r = client.post(f"/api/v1/advisory/customers/{cid}/risk-assessments", headers=me,
                    json={"answers": dict(STEADY, max_loss="B", goal="E")})
    assert r.status_code == 200 and r.json()["status"] == "needs_clarification"
    r = client.post(f"/api/v1/advisory/customers/{cid}/risk-assessments", headers=me,
                    json={"answers": dict(STEADY, max_loss="B", goal="B", allocation="B", reaction="B", horizon="B"), "round": 2})
    body = r.json()
    assert body["status"] == "complete" and body["level"] in ("C2", "C3") and body["valid_until"]
    level = body["level"]

    r = client.get(f"/api/v1/advisory/customers/{cid}/suitability", params={"product": "512100.SH"}, headers=me)
    assert r.json()["decision"] == "warn_confirm" and "R4" in r.json()["message"]
    r = client.post(f"/api/v1/advisory/customers/{cid}/suitability/confirmations", headers=me,
                    json={"product": "512100.SH"})
    assert r.status_code == 201, r.text
    assert r.json()["product_risk"] == "R4" and r.json()["ledger_entry_id"] is not None
    rows = session.scalars(select(SuitabilityConfirmation)).all()
    assert len(rows) == 1 and rows[0].investor_level == level and rows[0].channel == "app"

    # an R1 product needs no confirmation: a clear 422, nothing written
    r = client.post(f"/api/v1/advisory/customers/{cid}/suitability/confirmations", headers=me,
                    json={"product": "000198.OF"})
    assert r.status_code == 422 and "无需风险确认" in r.json()["detail"]
    session.expire_all()
    assert len(session.scalars(select(SuitabilityConfirmation)).all()) == 1


def test_customers_cannot_act_for_others_and_agents_cannot_confirm(client, world):
    me = login(client, "wang")
    other = world["zhao"].id
    r = client.post(f"/api/v1/advisory/customers/{other}/risk-assessments", headers=me, json={"answers": STEADY})
    assert r.status_code == 403
    assert client.get(f"/api/v1/advisory/customers/{other}/rebalance", headers=me).status_code == 403
    agent = login(client, "agent01")
    r = client.post(f"/api/v1/advisory/customers/{other}/suitability/confirmations", headers=agent,
                    json={"product": "512100.SH"})
    assert r.status_code == 403


def test_advisor_assesses_at_the_branch_and_reads_advice(client, world, session):
    adv = login(client, "adv01")
    cid = world["zhao"].id  # born 1960: 66-70 band
    assign_staff(session, cid, advisor_id=get_user_by_username(session, "adv01").id)  # her advisor
    session.commit()
    r = client.post(f"/api/v1/advisory/customers/{cid}/risk-assessments", headers=adv,
                    json={"answers": dict(STEADY, age="E")})
    assert r.status_code == 200 and r.json()["status"] == "complete"
    status = client.get(f"/api/v1/advisory/customers/{cid}/risk-assessment", headers=adv).json()
    assert status["status"] == "valid" and status["level"] == r.json()["level"]
    advice = client.get(f"/api/v1/advisory/customers/{cid}/rebalance", headers=adv).json()
    assert advice["status"] == "no_assets" and "没有资产" in advice["text"]
    proj = client.post("/api/v1/advisory/goals/projection", headers=adv,
                       json={"customer_id": cid, "kind": "retirement", "target_amount": 800000, "years": 6,
                             "initial": 500000, "monthly": 3000}).json()
    assert 0 <= proj["probability"] <= 1 and proj["goal"]["investor_level"] == status["level"]


def test_models_products_packages_and_bad_input(client, world):
    me = login(client, "wang")
    models = client.get("/api/v1/advisory/models", headers=me).json()
    assert set(models) == {"C1", "C2", "C3", "C4", "C5", "regime"}
    shelf = client.get("/api/v1/advisory/products", params={"investor": "C1"}, headers=me).json()
    assert {p["decision"] for p in shelf} == {"allow", "refuse"}
    assert client.get("/api/v1/advisory/products", params={"investor": "C8"}, headers=me).status_code == 422
    r = client.post("/api/v1/advisory/suitability/check", headers=me, json={"investor": "C1", "product_risk": "R5"})
    assert r.json()["decision"] == "refuse"
    # no assessment yet: the goal and package endpoints ask for one, in Chinese
    r = client.get("/api/v1/advisory/packages/steady_5pct_1y/plan", params={"customer_id": world["wang"].id}, headers=me)
    assert r.status_code == 403 and "测评" in r.json()["detail"]
    r = client.post("/api/v1/advisory/goals/projection", headers=me,
                    json={"customer_id": world["wang"].id, "kind": "house", "target_amount": -1, "years": 3})
    assert r.status_code == 422
    r = client.get(f"/api/v1/advisory/customers/{world['wang'].id}/suitability", params={"product": "NOPE"}, headers=me)
    assert r.status_code == 404


def test_goals_professional_and_package_drift_over_the_api(client, world, session):
    me = login(client, "wang")
    cid = world["wang"].id
    r = client.post(f"/api/v1/advisory/customers/{cid}/risk-assessments", headers=me, json={"answers": STEADY})
    assert r.json()["status"] == "complete"

    r = client.post(f"/api/v1/advisory/customers/{cid}/goals", headers=me,
                    json={"kind": "education", "name": "女儿大学教育金", "target_amount": 300000,
                          "target_date": (date.today() + timedelta(days=365 * 9)).isoformat(),
                          "current_value": 80000, "monthly": 1500})
    assert r.status_code == 201, r.text
    goal_id = r.json()["id"]
    listed = client.get(f"/api/v1/advisory/customers/{cid}/goals", headers=me).json()
    assert listed[0]["name"] == "女儿大学教育金" and listed[0]["probability"] is not None
    r = client.post(f"/api/v1/advisory/goals/{goal_id}/review", headers=me, json={"current_value": 320000})
    assert r.json()["status"] == "achieved"
    assert client.post("/api/v1/advisory/goals/999999/review", headers=me, json={}).status_code == 404

    r = client.post("/api/v1/advisory/professional-assessment", headers=me,
                    json={"financial_assets": 3500000, "avg_income_3y": 100000, "experience_years": 1})
    assert r.json()["professional"] is False and r.json()["may_apply"] is True

    for symbol in ("000198.OF", "000084.OF", "204001.SH"):
        item = catalogue.get(symbol)
        session.add(Instrument(symbol=symbol, code=symbol[:6], exchange=item["exchange"], name=item["name"],
                               kind=item["kind"], board=item["board"], risk_rating=item["risk"],
                               last_price=Decimal(str(item["last_price"]))))
    acc = Account(account_no="AW1", customer_id=cid, kind="cash", opened_on=date(2020, 1, 2), branch_code="SH001",
                  commission_rate=Decimal("0.00025"), cash_balance=Decimal("0"))
    session.add(acc)
    session.flush()
    for symbol, qty in (("000198.OF", "70000"), ("000084.OF", "20000"), ("204001.SH", "100")):
        session.add(Position(account_id=acc.id, symbol=symbol, quantity=Decimal(qty),
                             available_quantity=Decimal(qty), cost_price=Decimal("1")))
    session.commit()
    r = client.get(f"/api/v1/advisory/customers/{cid}/packages/steady_5pct_1y/drift", headers=me)
    body = r.json()
    assert r.status_code == 200 and body["drifted"] and body["weights"]["000198.OF"] == pytest.approx(0.7)
    assert "天弘余额宝货币多了约40,000元" in body["suggestion"]
