"""The risk desk's page of alerts and margin calls (issue 14 item 8): a contract called three times
as its ratio kept falling is one row, named by its customer; a call past its deadline says so; a
ratio just under the line never reads as the line itself; yesterday's alerts are marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.monitoring.brokerage import add_account, add_customer, add_instruments, hold, margin

from brokercare.api import create_app
from brokercare.core.calendar import SHANGHAI
from brokercare.monitoring.explain import below
from brokercare.monitoring.models import Alert, MarginCall
from brokercare.security import auth
from brokercare.security.service import create_user
from brokercare.web.sessions import COOKIE

PASSWORD = "Passw0rd2026"


def test_a_ratio_under_the_line_never_reads_as_the_line():
    assert below(1.29996) == "129.99%" and below(1.3) == "130.00%" and below(1.2345) == "123.45%"


def test_one_row_per_contract_with_its_customer_and_the_overdue_deadline(session, engine, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    add_instruments(session)
    customer = add_customer(session, 7)
    account = add_account(session, customer, "margin", cash="5000")
    hold(session, account, "300750.SZ", 1000, "230.00")
    contract = margin(session, account, "150000")
    yesterday = datetime.now(SHANGHAI).date() - timedelta(days=1)
    opened = datetime.now(UTC) - timedelta(days=3)
    for n, (line, ratio) in enumerate([("warning", "1.3900"), ("warning", "1.3500"), ("liquidation", "1.2999")]):
        session.add(MarginCall(dedup_key=f"margin_{line}:{contract.id}:{n}", contract_id=contract.id,
                               account_id=account.id, line=line, ratio=Decimal(ratio),
                               opened_at=opened + timedelta(hours=n), deadline=yesterday, status="open"))
    session.add(Alert(customer_id=customer.id, rule="move_down", severity="warning", title="宁德时代跌幅较大",
                      body="宁德时代 10 分钟内下跌 3.2%", dedup_key="move_down:7:old", symbol="300750.SZ",
                      fired_at=opened))
    create_user(session, username="risk01", password=PASSWORD, role="risk", display_name="风控 赵敏")
    session.commit()
    with TestClient(create_app()) as client:
        token = client.post("/api/v1/auth/token", data={"username": "risk01", "password": PASSWORD}).json()
        client.cookies.set(COOKIE, token["access_token"])
        page = client.get("/workbench/alerts")
    assert page.status_code == 200
    html = page.text
    assert html.count("已逾期，待处置") == 1  # three calls of one contract: one case
    assert f"{customer.name}（{customer.customer_no}）" in html and "#" + str(account.id) not in html
    assert "129.99%" in html and "130.0%" not in html
    assert "历史" in html and "实时预警" not in html
