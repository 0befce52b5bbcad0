"""Customers for advisory tests, written straight into the tables (assessments into the advisory
domain's own), and the customers domain listening on the bus as the API process does."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from brokercare.advisory.models import RiskAssessment
from brokercare.customers.models import Customer
from brokercare.customers.service import subscribe_handlers


def make_customer(session, n: int = 1, *, birth: date = date(1985, 5, 1), investor_type: str = "ordinary",
                  level: str | None = None, assessed_on: date | None = None) -> Customer:
    customer = Customer(
        customer_no=f"C{n:09d}", name="张三", gender="M", birth_date=birth,
        id_number_enc="enc", id_number_hash=f"h{n}", phone_enc="enc", phone_hash=f"p{n}",
        province="上海", city="上海", occupation="工程师", branch_code="SH001",
        opened_on=date(2020, 1, 2), investor_type=investor_type, risk_level=level,
    )
    session.add(customer)
    session.flush()
    if level:
        on = assessed_on or date.today() - timedelta(days=30)
        session.add(RiskAssessment(customer_id=customer.id, level=level, score=50, assessed_on=on,
                                   valid_until=on + timedelta(days=730)))
        session.flush()
    return customer


@pytest.fixture
def customer_factory(session):
    counter = iter(range(1, 10_000))
    return lambda **kw: make_customer(session, next(counter), **kw)


@pytest.fixture(autouse=True)
def customers_listening():
    """``risk.assessed`` reaches the customers domain (risk level, profile) once a test commits."""
    subscribe_handlers()
