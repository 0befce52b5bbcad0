"""The calculators against worked examples a wealth team (or a bank's mortgage desk) would quote."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from brokercare.core.errors import ValidationFailed
from brokercare.engagement.calculators import Lot, dividend_tax, goal, holding_band, loan

D = Decimal


@pytest.mark.parametrize(("bought", "sold", "rate"), [
    (date(2026, 3, 2), date(2026, 3, 20), "0.20"),  # 18 days
    (date(2026, 1, 31), date(2026, 3, 1), "0.20"),  # held to 28 Feb: exactly one month, included
    (date(2026, 1, 31), date(2026, 3, 2), "0.10"),  # one day over the month
    (date(2026, 3, 2), date(2027, 3, 3), "0.10"),  # held to 2 Mar 2027: exactly one year, included
    (date(2026, 3, 2), date(2027, 3, 4), "0"),  # over a year: exempt
])
def test_the_holding_period_sets_the_rate(bought, sold, rate):
    assert holding_band(bought, sold)[0] == D(rate)


def test_dividend_tax_is_withheld_on_sale_first_in_first_out():
    """Say 贵州茅台 pays 27.673 元 a share; 300 shares bought in
    two lots, 200 sold on 10 September 2026: the older 100 held over a year (exempt), 100 of the
    newer held four months (10 %)."""
    lots = [Lot(date(2026, 5, 8), 200), Lot(date(2025, 4, 1), 100)]
    taxed = dividend_tax(lots, D("27.673"), 200, date(2026, 9, 10))
    assert [(t.bought_on, t.shares, t.dividend, t.rate, t.tax) for t in taxed] == [
        (date(2025, 4, 1), 100, D("2767.30"), D("0"), D("0.00")),
        (date(2026, 5, 8), 100, D("2767.30"), D("0.10"), D("276.73")),
    ]
    assert taxed[1].band == "持股1个月以上至1年（含1年）"
    with pytest.raises(ValidationFailed, match="超过持有股数"):
        dividend_tax(lots, D("1"), 301, date(2026, 9, 10))


def test_a_one_million_thirty_year_mortgage_at_4_9_percent():
    """The figures every mortgage calculator in China quotes for 100 万, 30 years, 4.9 %."""
    even = loan(D("1000000"), D("0.049"), 30)
    assert (even.months, even.first_payment) == (360, D("5307.27"))
    assert abs(even.total_interest - D("910616.19")) <= D("2")  # monthly rounding of the payment
    principal = loan(D("1000000"), D("0.049"), 30, "equal_principal")
    assert (principal.first_payment, principal.last_payment) == (D("6861.11"), D("2789.12"))
    assert principal.total_interest == D("737041.67")
    assert loan(D("120000"), D("0"), 10).first_payment == D("1000.00")
    with pytest.raises(ValidationFailed):
        loan(D("1000000"), D("0.049"), 40)


def test_a_savings_goal():
    """1,000 元 a month for 10 years at 6 % a year grows to 163,879.35 (the annuity table's
    163.879); with nothing expected from the market, 12 万 in 10 years is 1,000 a month; money
    already saved that gets there alone needs nothing more."""
    assert goal(D("163879.35"), 10, D("0.06")).monthly_saving == D("1000.00")
    assert goal(D("120000"), 10, D("0")).monthly_saving == D("1000.00")
    assert goal(D("100000"), 10, D("0.04"), saved=D("80000")).monthly_saving == D("0.00")
    with pytest.raises(ValidationFailed):
        goal(D("0"), 10, D("0.04"))


@pytest.fixture
def customer_client(engine, session, monkeypatch):
    from argon2 import PasswordHasher
    from fastapi.testclient import TestClient
    from tests.monitoring.brokerage import add_customer

    from brokercare.api import create_app
    from brokercare.security import auth
    from brokercare.security.service import create_user

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    me = add_customer(session, 1)
    create_user(session, username="zhangli", password="Passw0rd2026", role="customer", display_name="张丽",
                customer_id=me.id)
    session.commit()
    with TestClient(create_app()) as client:
        assert client.post("/login", data={"username": "zhangli", "password": "Passw0rd2026"},
                           follow_redirects=False).status_code == 303
        yield client


def test_the_customer_uses_the_calculators_page_and_the_api(customer_client):
    page = customer_client.get("/me/calculators", params={"calc": "loan", "principal": "1,000,000", "rate": "4.9",
                                                          "years": "30", "method": "equal_instalment"})
    assert page.status_code == 200 and "每月还款 <strong>5,307.27 元</strong>" in page.text
    tax = customer_client.get("/me/calculators", params={"calc": "dividend", "bought_on": "2026-03-02",
                                                         "sold_on": "2026-03-20", "shares": "1000", "per_share": "0.5"})
    assert "卖出时扣税 <strong>100.00 元</strong>" in tax.text
    bad = customer_client.get("/me/calculators", params={"calc": "goal", "target": "五十万", "years": "10", "rate": "4"})
    assert bad.status_code == 422 and "请填写目标金额（数字）" in bad.text
    token = customer_client.post("/api/v1/auth/token", data={"username": "zhangli", "password": "Passw0rd2026"}).json()
    goal_out = customer_client.post("/api/v1/engagement/calculators/goal",
                                    json={"target": "120000", "years": 10, "annual_return": "0"},
                                    headers={"Authorization": f"Bearer {token['access_token']}"})
    assert goal_out.status_code == 200 and goal_out.json()["monthly_saving"] == "1000.00"
