"""A crash reaches the holder's phone and app: alerts queued in the outbox in the alerts' own
transaction, sent by the one dispatcher to the broker's SMS and push gateways, and read in the
customer's message centre."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from tests.monitoring.brokerage import small_brokerage
from tests.outbox.gateways import HttpGateway
from tests.relationships import serve

from brokercare.api import create_app
from brokercare.core.settings import reset_settings
from brokercare.customers.models import Customer
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.service import (
    load_book,
    load_universe,
    market_info,
    record_findings,
    set_preferences,
)
from brokercare.outbox.models import OutboxMessage
from brokercare.outbox.service import dispatch_due
from brokercare.security import auth
from brokercare.security.service import create_user, get_cipher, get_user_by_username

PASSWORD = "Passw0rd2026"
PHONE = "13912345678"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def gateway(monkeypatch):
    gw = HttpGateway()
    monkeypatch.setenv("BROKERCARE_SMS_URL", f"{gw.url}/sms")
    monkeypatch.setenv("BROKERCARE_PUSH_URL", f"{gw.url}/push")
    reset_settings()
    yield gw
    gw.close()


def crash(session):
    """Every stock 7 % down in six minutes on Tuesday 16 June 2026, 10:00–10:06 Beijing."""
    small_brokerage(session, 10)
    universe = load_universe(session)
    book = load_book(session, universe=universe)
    me = int(book.customer_ids[0])
    customer = session.get(Customer, me)
    customer.phone_enc = get_cipher(session).encrypt(PHONE)
    set_preferences(session, me, channels=["app", "sms"])
    book = load_book(session, universe=universe)
    ev = Evaluator(book, market_info(universe, date(2026, 6, 16)))
    base = np.array([float(u.last_price) for u in universe])
    vol = np.zeros(len(universe))
    ev.evaluate(Snapshot(datetime(2026, 6, 16, 2, 0, tzinfo=UTC), base, vol))
    f = ev.evaluate(Snapshot(datetime(2026, 6, 16, 2, 6, tzinfo=UTC), np.round(base * 0.93, 2), vol))
    recorded = record_findings(session, book, f, ev.last_price)
    session.commit()
    return me, int(book.customer_ids[-1]), recorded


def test_a_crash_reaches_the_holders_phone_and_app_once(engine, session, gateway):
    me, _, recorded = crash(session)
    queued = session.scalars(select(OutboxMessage).where(OutboxMessage.origin == "monitoring")).all()
    assert recorded.notifications == len(queued) > 0
    mine = [m for m in queued if m.customer_id == me]
    assert {m.channel for m in mine} == {"app", "sms"}

    sessions = sessionmaker(engine, expire_on_commit=False)
    assert dispatch_due(sessions)["sent"] == len(queued)
    assert dispatch_due(sessions)["claimed"] == 0  # nothing twice
    sms = [m for m in gateway.delivered.values() if m.get("to") == PHONE]
    assert len(sms) == 1 and sms[0]["text"].startswith("【BrokerCare证券】")
    # one digest of the customer's three holdings that fell, each with its name and move
    assert sms[0]["text"].count("10 分钟内下跌 7.0%") == 3 and "宁德时代" in sms[0]["text"]
    assert len(gateway.deliveries) == len(queued)


def test_the_customer_reads_the_alert_in_the_message_centre(engine, session, gateway):
    me, other, _ = crash(session)
    create_user(session, username="lixia", password=PASSWORD, role="customer", display_name="李霞",
                customer_id=me)
    create_user(session, username="agent01", password=PASSWORD, role="agent", display_name="坐席")
    session.commit()
    dispatch_due(sessionmaker(engine, expire_on_commit=False))
    with TestClient(create_app()) as client:
        def login(username):
            r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        mine = login("lixia")
        inbox = client.get(f"/api/v1/outbox/customers/{me}/messages", headers=mine).json()
        assert inbox and all(m["channel"] == "app" and m["state"] == "sent" for m in inbox)
        assert any("10 分钟内下跌 7.0%" in m["body"] for m in inbox)
        first = inbox[0]["id"]
        read = client.post(f"/api/v1/outbox/customers/{me}/messages/{first}/read", headers=mine)
        assert read.status_code == 200 and read.json()["read_at"]
        refused = client.get(f"/api/v1/outbox/customers/{other}/messages", headers=mine)
        assert refused.status_code == 403 and "本人" in refused.json()["detail"]
        agent = login("agent01")
        assert client.get(f"/api/v1/outbox/customers/{me}/messages", headers=agent).status_code == 403
        serve(session, get_user_by_username(session, "agent01"), me)  # serving her conversation
        as_agent = client.get(f"/api/v1/outbox/customers/{me}/messages", headers=agent)
        assert as_agent.status_code == 200 and all(m["body"] is None for m in as_agent.json())
