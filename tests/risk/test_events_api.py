"""The trading system's event feed: ``POST /api/v1/events`` takes a batch, each owner reacts (the
risk checks score the login, the customer profile keeps the behaviour), a replayed batch changes
nothing, and one bad event refuses the whole batch."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from tests.monitoring.brokerage import add_instruments

from brokercare.accounts.models import Account, Trade
from brokercare.customers.models import BehaviourEvent, CustomerProfile
from brokercare.risk.models import RiskEvent
from brokercare.security.service import service_token

from .conftest import GUANGZHOU_IPS, PHONE, token


def batch(desk) -> list[dict]:
    at = desk.now + timedelta(hours=1)
    cid = desk.customer.id
    return [
        {"event_id": "app-20261020-000001", "type": "login", "occurred_at": at.isoformat(), "customer_id": cid,
         "ip": GUANGZHOU_IPS[0], "device_id": "HUAWEI-P60-00aa11", "channel": "app"},
        {"event_id": "app-20261020-000002", "type": "page_view", "occurred_at": (at + timedelta(minutes=1)).isoformat(),
         "customer_id": cid, "page": "fund_detail", "topic": "海外留学", "duration_s": 95, "device_id": PHONE},
        {"event_id": "app-20261020-000003", "type": "search", "occurred_at": (at + timedelta(minutes=2)).isoformat(),
         "customer_id": cid, "query": "美元理财", "device_id": PHONE},
    ]


def counts(session, customer_id: int) -> tuple[int, int]:
    session.expire_all()
    behaviour = session.scalar(select(func.count(BehaviourEvent.id)).where(BehaviourEvent.customer_id == customer_id))
    risk = session.scalar(select(func.count(RiskEvent.id)).where(RiskEvent.customer_id == customer_id))
    return behaviour, risk


def test_the_trading_systems_events_reach_the_risk_checks_and_the_profile_once(session, desk, client):
    feed = {"Authorization": f"Bearer {service_token(session, 'event_feed')}"}
    before = counts(session, desk.customer.id)
    r = client.post("/api/v1/events", json={"events": batch(desk)}, headers=feed)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 3, "duplicates": 0}
    after = counts(session, desk.customer.id)
    assert after == (before[0] + 3, before[1] + 1)  # three behaviour rows; the login was scored
    login = session.scalar(select(RiskEvent).where(RiskEvent.event_id == "app-20261020-000001"))
    assert login.action in ("step_up", "hold", "freeze")  # a new phone in 广州 an hour after 北京
    profile = session.scalar(select(CustomerProfile).where(CustomerProfile.customer_id == desk.customer.id))
    assert profile is not None  # refreshed at once
    again = client.post("/api/v1/events", json={"events": batch(desk)}, headers=feed)
    assert again.json() == {"accepted": 0, "duplicates": 3}
    assert counts(session, desk.customer.id) == after


def test_one_bad_event_refuses_the_batch_and_nothing_is_taken(session, desk, client):
    feed = {"Authorization": f"Bearer {service_token(session, 'event_feed')}"}
    events = batch(desk)
    del events[1]["customer_id"]
    before = counts(session, desk.customer.id)
    r = client.post("/api/v1/events", json={"events": events}, headers=feed)
    assert r.status_code == 422
    assert "event 2" in r.json()["detail"] and "nothing taken" in r.json()["detail"]
    assert counts(session, desk.customer.id) == before
    fixed = batch(desk)
    assert client.post("/api/v1/events", json={"events": fixed}, headers=feed).json()["accepted"] == 3


def test_only_the_event_feed_posts_events(session, desk, client):
    r = client.post("/api/v1/events", json={"events": batch(desk)}, headers=token(client, "agent01"))
    assert r.status_code == 403


def test_a_reported_trade_is_booked_once_with_its_fees(session, desk, client):
    """The trading system reports 王芳 selling 1,000 招商银行 at 35.20: it is in her trade book with
    the commission at her rate (5 元 minimum), 0.05 % stamp duty and 0.001 % transfer fee; the
    same event again books nothing."""
    add_instruments(session)
    session.add(Account(account_no="A0100001", customer_id=desk.customer.id, kind="cash", opened_on=date(2019, 4, 1),
                        branch_code="B001", commission_rate=Decimal("0.00025"), cash_balance=Decimal("50000.00")))
    session.commit()
    feed = {"Authorization": f"Bearer {service_token(session, 'event_feed')}"}
    trade = {"event_id": "ts-20261020-778812", "type": "trade", "occurred_at": (desk.now + timedelta(hours=2)).isoformat(),
             "customer_id": desk.customer.id, "symbol": "600036.SH", "side": "sell", "quantity": 1000,
             "price": "35.20", "channel": "app"}
    for _ in range(2):
        assert client.post("/api/v1/events", json={"events": [trade]}, headers=feed).status_code == 200
    session.expire_all()
    [booked] = session.scalars(select(Trade).where(Trade.symbol == "600036.SH")).all()
    assert (booked.side, booked.quantity, booked.amount) == ("sell", Decimal("1000"), Decimal("35200.00"))
    assert (booked.commission, booked.stamp_duty, booked.transfer_fee) == (Decimal("8.80"), Decimal("17.60"),
                                                                           Decimal("0.35"))


def test_a_reported_order_is_in_the_order_book_once(session, desk, client):
    """The trading system reports 王芳's order to buy 500 贵州茅台 at 1,480: it is in her order book as
    submitted (its fills come as trades); the same event again books nothing, and an order for an
    instrument the platform does not list is not booked — nor is the rest of the batch refused."""
    from brokercare.accounts.models import Order

    add_instruments(session)
    session.add(Account(account_no="A0100002", customer_id=desk.customer.id, kind="cash", opened_on=date(2019, 4, 1),
                        branch_code="B001", commission_rate=Decimal("0.00025"), cash_balance=Decimal("800000.00")))
    session.commit()
    feed = {"Authorization": f"Bearer {service_token(session, 'event_feed')}"}
    at = (desk.now + timedelta(hours=2)).isoformat()
    order = {"event_id": "ts-20261020-o-5521", "type": "order", "occurred_at": at, "customer_id": desk.customer.id,
             "symbol": "600519.SH", "side": "buy", "quantity": 500, "price": "1480.00", "channel": "app"}
    unknown = {**order, "event_id": "ts-20261020-o-5522", "symbol": "999999.SH"}
    for _ in range(2):
        assert client.post("/api/v1/events", json={"events": [order, unknown]}, headers=feed).status_code == 200
    session.expire_all()
    [booked] = session.scalars(select(Order)).all()
    assert (booked.symbol, booked.side, booked.quantity, booked.price, booked.status, booked.filled_quantity) == (
        "600519.SH", "buy", Decimal("500"), Decimal("1480.00"), "submitted", Decimal("0"))
