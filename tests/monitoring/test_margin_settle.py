"""Margin calls close when their time is past (issue 14 item 8): a contract called three times as its
ratio kept falling is one open case, a contract back above its warning line has met its call, and a
margin customer reads the state of their own credit account on 消息提醒."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.monitoring.brokerage import add_account, add_customer, add_instruments, hold, margin

from brokercare.api import create_app
from brokercare.core.calendar import SHANGHAI
from brokercare.monitoring.models import MarginCall
from brokercare.monitoring.service import settle_margin_calls
from brokercare.security import auth
from brokercare.security.service import create_user
from brokercare.web.sessions import COOKIE

PASSWORD = "Kehu-2026-test"


def _calls(session, account, contract, lines_ratios, deadline):
    opened = datetime.now(UTC) - timedelta(days=3)
    for n, (line, ratio) in enumerate(lines_ratios):
        session.add(MarginCall(dedup_key=f"margin_{line}:{contract.id}:{n}", contract_id=contract.id,
                               account_id=account.id, line=line, ratio=Decimal(ratio),
                               opened_at=opened + timedelta(hours=n), deadline=deadline, status="open"))


def test_one_open_call_per_contract_and_a_recovered_contract_has_met_its_call(session, engine, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    add_instruments(session)
    today = datetime.now(SHANGHAI).date()
    falling = add_customer(session, 7)  # 宁德时代 1,000 股 at 200 + 5,000 cash against 20 万 debt
    fa = add_account(session, falling, "margin", cash="5000")
    hold(session, fa, "300750.SZ", 1000, "230.00")
    fc = margin(session, fa, "200000")
    _calls(session, fa, fc, [("warning", "1.3900"), ("warning", "1.3500"), ("liquidation", "1.2999")],
           today - timedelta(days=1))
    recovered = add_customer(session, 8)  # topped up: 30 万 of cash against 10 万 of debt
    ra = add_account(session, recovered, "margin", cash="300000")
    rc = margin(session, ra, "100000")
    _calls(session, ra, rc, [("warning", "1.3800")], today + timedelta(days=1))
    create_user(session, username="kehu_zhang", password=PASSWORD, role="customer",
                display_name=falling.name, customer_id=falling.id)
    session.commit()

    counts = settle_margin_calls(session, today)
    session.commit()
    assert counts == {"superseded": 2, "met": 1, "still_open": 1, "overdue": 1}
    status = {c.id: c.status for c in session.scalars(select(MarginCall))}
    open_calls = session.scalars(select(MarginCall).where(MarginCall.status == "open")).all()
    assert [(c.contract_id, c.line) for c in open_calls] == [(fc.id, "liquidation")]
    assert sorted(status.values()) == ["met", "open", "superseded", "superseded"]
    assert settle_margin_calls(session, today) == {"superseded": 0, "met": 0, "still_open": 1, "overdue": 1}

    with TestClient(create_app()) as client:  # the customer reads their own credit account
        token = client.post("/api/v1/auth/token", data={"username": "kehu_zhang", "password": PASSWORD}).json()
        client.cookies.set(COOKIE, token["access_token"])
        page = client.get("/me/alerts")
    assert page.status_code == 200
    html = page.text
    assert "我的信用账户" in html and "低于平仓线" in html and "追保中" in html and "已过截止日" in html
    assert "维持担保比例 <strong>102.50%</strong>" in html  # (5,000 + 200,000) / 200,000
