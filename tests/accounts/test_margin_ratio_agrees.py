"""One maintenance collateral ratio: the workbench (accounts service), the customer's assistant,
the margin monitor and the CDP's features read the same number for an account that sold a stock
short (融券)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.monitoring.brokerage import add_account, add_customer, add_instruments, hold, margin

from brokercare.accounts.models import MarginShort
from brokercare.accounts.service import margin_status
from brokercare.api import create_app
from brokercare.assistant import service as assistant
from brokercare.assistant.tools import margin_views
from brokercare.customers import batch
from brokercare.customers.service import assign_staff, get_profile
from brokercare.market.models import Instrument
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.service import load_book, load_universe, market_info
from brokercare.security import auth
from brokercare.security.service import create_user

DAY = date(2026, 6, 16)


@pytest.fixture
def shorter(session):
    """430,000 cash (short proceeds included), 1,000 宁德时代 at 200, 12,000 招商银行 owed at 35."""
    add_instruments(session)
    customer = add_customer(session, 1)
    account = add_account(session, customer, "margin", cash="430000")
    hold(session, account, "300750.SZ", 1000, "180.00")
    contract = margin(session, account, "0")
    contract.lending_debt = Decimal("420000.00")  # marked when sold: 12,000 x 35.00
    session.add(MarginShort(contract_id=contract.id, symbol="600036.SH", quantity=Decimal(12000)))
    session.commit()
    return customer, account


def _monitor_ratio(session, account_id: int) -> tuple[float, float]:
    universe = load_universe(session)
    book = load_book(session, universe=universe)
    ev = Evaluator(book, market_info(universe, DAY), forecast_threshold=2.0)
    prices = np.array([float(u.last_price) for u in universe])
    f = ev.evaluate(Snapshot(datetime(2026, 6, 16, 2, 0, tzinfo=UTC), prices, np.zeros(len(universe))))
    m = int(np.flatnonzero(book.account_ids[book.margin_rows] == account_id)[0])
    return float(f.ratio[m]), float(f.liabilities[m])


def test_short_whose_price_rose_gives_one_ratio_everywhere(engine, session, shorter):
    customer, account = shorter
    before = margin_status(session, account.id)
    assert before.lending_repriced and before.lending_debt == Decimal("420000.00")
    assert before.maintenance_ratio == Decimal("1.5000") and before.state == "normal"

    session.get(Instrument, "600036.SH").last_price = Decimal("38.50")  # 招商银行 +10 %
    session.commit()

    status = margin_status(session, account.id)
    # 630,000 / (12,000 x 38.50 = 462,000) = 136.36 %: below the 140 % warning line
    assert status.lending_debt == Decimal("462000.00") and status.total_liabilities == Decimal("462000.00")
    assert status.maintenance_ratio == Decimal("1.3636") and status.state == "below_warning"
    assert status.top_up_to_warning == Decimal("16800.00")
    assert [(s.symbol, s.quantity, s.market_value) for s in status.shorts] == [
        ("600036.SH", Decimal("12000.00"), Decimal("462000.00"))]

    (view,) = margin_views(session, customer.id)
    assert (view.ratio, view.liabilities, view.assets) == (
        status.maintenance_ratio, status.total_liabilities, status.total_assets)
    assert view.shortfall_to(view.warning_line) == status.top_up_to_warning

    ratio, liabilities = _monitor_ratio(session, account.id)
    assert liabilities == pytest.approx(float(status.total_liabilities))
    assert Decimal(ratio).quantize(Decimal("0.0001")) == status.maintenance_ratio

    batch.run(engine)  # the CDP's nightly features (tiers use net assets, tags the ratio)
    session.expire_all()
    features = get_profile(session, customer.id).features
    assert features["lending_debt"] == pytest.approx(462000.0)
    assert features["maintenance_ratio"] == pytest.approx(float(status.maintenance_ratio), abs=5e-5)

    answer = assistant.reply(session, customer.id, "我的维持担保比例是多少")
    assert "136.4%" in answer.text and "总负债46.20万元" in answer.text
    assert "已低于警戒线" in answer.text


def test_contract_without_shares_on_record_keeps_its_marked_lending_debt(session):
    add_instruments(session)
    account = add_account(session, add_customer(session, 2), "margin", cash="430000")
    hold(session, account, "300750.SZ", 1000, "180.00")
    margin(session, account, "0").lending_debt = Decimal("420000.00")
    session.commit()
    status = margin_status(session, account.id)
    assert not status.lending_repriced and status.shorts == ()
    assert status.maintenance_ratio == Decimal("1.5000")
    assert _monitor_ratio(session, account.id) == pytest.approx((1.5, 420000.0))


def test_a_short_without_a_reference_price_is_not_valued_at_zero(session, shorter):
    _, account = shorter
    session.get(Instrument, "600036.SH").last_price = None
    session.commit()
    status = margin_status(session, account.id)
    assert not status.lending_repriced and status.lending_debt == Decimal("420000.00")
    assert status.shorts[0].market_value is None and status.maintenance_ratio == Decimal("1.5000")


def test_margin_endpoint_shows_the_repriced_debt_and_the_shares_owed(engine, session, shorter, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    customer, account = shorter
    manager = create_user(session, username="cm01", password="Passw0rd2026", role="customer_manager",
                          display_name="刘洋")
    assign_staff(session, customer.id, manager_id=manager.id)  # the customer's manager reads the margin
    session.get(Instrument, "600036.SH").last_price = Decimal("38.50")
    session.commit()
    with TestClient(create_app()) as client:
        token = client.post("/api/v1/auth/token", data={"username": "cm01", "password": "Passw0rd2026"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        r = client.get(f"/api/v1/accounts/{account.id}/margin", headers=headers)
    assert r.status_code == 200, r.text
    m = r.json()
    assert (m["lending_debt"], m["lending_repriced"], m["maintenance_ratio"], m["state"]) == (
        "462000.00", True, "1.3636", "below_warning")
    assert m["shorts"] == [{"symbol": "600036.SH", "name": "招商银行", "quantity": "12000.00",
                            "last_price": "38.5000", "market_value": "462000.00"}]
