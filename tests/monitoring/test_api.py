"""The monitoring API with real logins: a customer sees and tunes only their own alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.monitoring.brokerage import small_brokerage
from tests.relationships import serve

from brokercare.api import create_app
from brokercare.core.calendar import trading_days
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.ipo import quota_window
from brokercare.monitoring.models import MarketValueDaily
from brokercare.monitoring.service import load_book, load_universe, market_info, record_findings
from brokercare.security import auth
from brokercare.security.service import create_user

PASSWORD = "Passw0rd2026"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def world(session):
    small_brokerage(session, 10)
    universe = load_universe(session)
    book = load_book(session, universe=universe)
    ev = Evaluator(book, market_info(universe, date(2026, 6, 16)))
    base = np.array([float(u.last_price) for u in universe])
    vol = np.zeros(len(universe))
    ev.evaluate(Snapshot(datetime(2026, 6, 16, 2, 0, tzinfo=UTC), base, vol))
    f = ev.evaluate(
        Snapshot(datetime(2026, 6, 16, 2, 6, tzinfo=UTC), np.round(base * 0.93, 2), vol)
    )
    record_findings(session, book, f, ev.last_price)
    me, other = int(book.customer_ids[0]), int(book.customer_ids[-1])
    for d in trading_days(*quota_window(date(2026, 6, 16))):
        session.add(MarketValueDaily(customer_id=me, day=d, exchange="SH", value=Decimal("52000")))
    create_user(
        session,
        username="lixia",
        password=PASSWORD,
        role="customer",
        display_name="李",
        customer_id=me,
    )
    agent = create_user(session, username="agent01", password=PASSWORD, role="agent", display_name="坐席")
    session.commit()
    serve(session, agent, me)  # agent01 serves 李霞's conversation: it may read her alerts
    return {"me": me, "other": other}


@pytest.fixture
def client(engine):
    with TestClient(create_app()) as c:
        yield c


def login(client, username):
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_customer_alerts_preferences_and_quota(client, world):
    me, other = world["me"], world["other"]
    h = login(client, "lixia")
    assert client.get(f"/api/v1/monitoring/customers/{me}/alerts").status_code == 401
    alerts = client.get(f"/api/v1/monitoring/customers/{me}/alerts", headers=h).json()
    assert alerts and all("下跌 7.0%" in a["title"] for a in alerts if a["rule"] == "move_down")
    r = client.get(f"/api/v1/monitoring/customers/{other}/alerts", headers=h)
    assert r.status_code == 403 and "本人" in r.json()["detail"]
    r = client.put(
        f"/api/v1/monitoring/customers/{me}/preferences",
        headers=h,
        json={"move_pct": 0.03, "window_min": 5, "channels": ["app", "wechat"]},
    )
    assert r.status_code == 200 and r.json()["move_pct"] == 0.03
    r = client.put(
        f"/api/v1/monitoring/customers/{me}/preferences", headers=h, json={"move_pct": 0.9}
    )
    assert r.status_code == 422 and "1% 到 20%" in r.json()["detail"]
    q = client.get(f"/api/v1/monitoring/customers/{me}/ipo-quota?day=2026-06-16", headers=h).json()
    assert q["quota"]["SH_main"] == 5000 and q["quota"]["SH_star"] == 5000
    staff = login(client, "agent01")
    assert client.get(f"/api/v1/monitoring/customers/{me}/alerts", headers=staff).status_code == 200
    r = client.put(
        f"/api/v1/monitoring/customers/{me}/preferences", headers=staff, json={"window_min": 10}
    )
    assert r.status_code == 403
