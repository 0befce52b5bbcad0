"""The demo logins: every role can log in, and the customer logins land on the right customers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
from sqlalchemy import select

from brokercare.accounts.models import Account, Position
from brokercare.ledger import service as ledger
from brokercare.market.models import Instrument
from brokercare.security import demo
from brokercare.security.access import ROLES
from brokercare.security.models import User
from brokercare.security.service import authenticate

from .conftest import add_customer


def _holding(session, customer, qty: int, kind: str = "cash") -> None:
    acc = Account(account_no=f"{kind[0].upper()}{customer.customer_no}", customer_id=customer.id, kind=kind,
                  opened_on=date(2021, 5, 6), branch_code="B001", commission_rate=Decimal("0.00025"),
                  cash_balance=Decimal("20000.00"))
    session.add(acc)
    session.flush()
    for symbol in ("600519.SH", "300750.SZ"):
        session.add(Position(account_id=acc.id, symbol=symbol, quantity=Decimal(qty), available_quantity=Decimal(qty),
                             cost_price=Decimal("100.0000"), opened_on=date(2024, 3, 1)))


def test_demo_logins_for_every_role_and_picked_customers(session, engine):
    session.add_all([
        Instrument(symbol="600519.SH", code="600519", exchange="SH", name="贵州茅台", kind="stock", board="main",
                   last_price=Decimal("1500.0000")),
        Instrument(symbol="300750.SZ", code="300750", exchange="SZ", name="宁德时代", kind="stock", board="chinext",
                   last_price=Decimal("250.0000")),
    ])
    people = []
    for i, (name, qty) in enumerate([("钱多多", 20000), ("孙中", 1000), ("李小", 100), ("周融", 3000)]):
        c = add_customer(session, no=f"D{i:07d}", name=name, id_number=f"11010519800101{i:03d}5",
                         phone=f"1371234{i:04d}", address="广州市天河区珠江新城", card=None)
        _holding(session, c, qty, kind="margin" if name == "周融" else "cash")
        people.append(c)
    session.commit()

    summary = SimpleNamespace(counts={}, notes=[], add=lambda t, n: summary.counts.__setitem__(t, n))
    demo.generate(engine, np.random.default_rng(1), summary)
    demo.generate(engine, np.random.default_rng(1), summary)  # idempotent

    roles = set(session.scalars(select(User.role)))
    assert roles == set(ROLES)
    for username, *_ in demo.STAFF:
        assert authenticate(session, username, demo.STAFF_PASSWORD).username == username
    by_login = {u.username: u.customer_id for u in session.scalars(select(User).where(User.role == "customer"))}
    ids = {c.name: c.id for c in people}
    assert by_login["demo_vip"] == ids["钱多多"]
    assert by_login["demo_margin"] == ids["周融"]
    assert by_login["demo_mass"] == ids["孙中"]
    assert by_login["demo_longtail"] == ids["李小"]
    assert authenticate(session, "demo_vip", demo.CUSTOMER_PASSWORD).customer_id == ids["钱多多"]
    agents = session.scalars(select(User).where(User.role == "agent")).all()
    lead = session.scalar(select(User).where(User.role == "team_lead"))
    assert all(a.team_lead_id == lead.id for a in agents)
    assert ledger.size(session) >= 4 and ledger.verify(session).ok
    assert "demo_vip" in summary.notes[0]
