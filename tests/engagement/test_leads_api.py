"""A customer manager works their leads and tasks through the API and on the workbench page; a
manager sees only their own, other staff none (the reasons carry customers' assets)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.engagement.people import PASSWORD, branch

from brokercare.api import create_app
from brokercare.core.calendar import SHANGHAI
from brokercare.engagement import leads
from brokercare.security import auth
from brokercare.security.service import create_user


@pytest.fixture
def client(engine, session, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    people = branch(session)
    leads.raise_leads(session, datetime.now(SHANGHAI).date())
    create_user(session, username="agent07", password=PASSWORD, role="agent", display_name="坐席七")
    session.commit()
    with TestClient(create_app()) as c:
        c.people = people
        yield c


def _bearer(client, username: str) -> dict:
    token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_a_manager_works_their_own_leads_through_the_api(client):
    wang, zhao = _bearer(client, "cm_wang"), _bearer(client, "cm_zhao")
    mine = client.get("/api/v1/engagement/leads", headers=wang).json()
    assert [(x["need"], x["need_label"], x["state"]) for x in mine] == [("foreign_currency", "外币资产配置", "new")]
    lead = mine[0]["id"]
    assert client.post(f"/api/v1/engagement/leads/{lead}/state", json={"state": "contacted"}, headers=zhao).status_code == 403
    assert client.post(f"/api/v1/engagement/leads/{lead}/state", json={"state": "won", "outcome": "买入美元货币基金"},
                       headers=wang).status_code == 422  # no amount
    assert client.post(f"/api/v1/engagement/leads/{lead}/state", json={"state": "won", "amount": "-5"},
                       headers=wang).status_code == 422
    won = client.post(f"/api/v1/engagement/leads/{lead}/state",
                      json={"state": "won", "outcome": "买入美元货币基金", "amount": "200000.00"}, headers=wang)
    assert won.status_code == 200 and won.json()["state"] == "won" and won.json()["amount"] == "200000.00"
    again = client.post(f"/api/v1/engagement/leads/{lead}/state", json={"state": "lost", "outcome": "x"}, headers=wang)
    assert again.status_code == 409
    assert client.get("/api/v1/engagement/leads?state=won", headers=wang).json()[0]["id"] == lead
    assert client.get("/api/v1/engagement/leads", headers=_bearer(client, "agent07")).status_code == 403
    assert client.get("/api/v1/engagement/tasks", headers=wang).json() == []


def test_the_workbench_page_shows_the_managers_leads_and_records_an_outcome(client):
    r = client.post("/login", data={"username": "cm_zhao", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/workbench/leads")
    assert page.status_code == 200 and "刘洋" in page.text and "闲置资金管理" in page.text
    assert "陈思远" not in page.text  # 王经理's customer
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    lead = int(re.search(r'/workbench/leads/(\d+)/state', page.text).group(1))
    bad = client.post(f"/workbench/leads/{lead}/state", data={"csrftoken": token, "state": "won", "amount": "五十万",
                                                              "outcome": "买了国债逆回购"})
    assert bad.status_code == 422 and "成交金额请填写数字" in bad.text
    done = client.post(f"/workbench/leads/{lead}/state", data={"csrftoken": token, "state": "won",
                                                               "outcome": "买了国债逆回购", "amount": "300,000"},
                       follow_redirects=False)
    assert done.status_code == 303
    assert "300,000.00元" in client.get("/workbench/leads").text
