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
from brokercare.security.models import User
from brokercare.security.policy import ROLES
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


def test_demo_customers_are_picked_by_net_assets_and_fall_in_their_cdp_tier(session, engine):
    """A customer holding 8,000 万 with 6,000 万 of margin debt owns 2,000 万 (潜力), not a VIP book;
    demo_vip goes to the one who owns 6,000 万, and each pick is in its tier by the CDP's rules."""
    from brokercare.accounts.models import MarginContract, MarginShort
    from brokercare.accounts.service import net_assets_by_customer
    from brokercare.customers import batch
    from brokercare.customers.service import get_profile

    session.add_all([
        Instrument(symbol="600519.SH", code="600519", exchange="SH", name="贵州茅台", kind="stock", board="main",
                   last_price=Decimal("1500.0000")),
        Instrument(symbol="300750.SZ", code="300750", exchange="SZ", name="宁德时代", kind="stock", board="chinext",
                   last_price=Decimal("250.0000")),
    ])
    people = {}
    # shares of each of the two stocks: 1,750 元 of stock per unit, plus 20,000 cash
    for i, (name, qty, kind) in enumerate([("钱多多", 34300, "cash"), ("贷得多", 45700, "margin"),
                                           ("孙中", 1000, "cash"), ("李小", 100, "cash"),
                                           ("空得多", 3000, "margin")]):
        c = add_customer(session, no=f"N{i:07d}", name=name, id_number=f"11010519800202{i:03d}5",
                         phone=f"1381234{i:04d}", address="广州市天河区珠江新城", card=None)
        _holding(session, c, qty, kind=kind)
        people[name] = c
    session.flush()

    def contract(customer, financing: str) -> MarginContract:
        acc = session.scalar(select(Account).where(Account.customer_id == customer.id))
        m = MarginContract(contract_no=f"RZ{customer.customer_no}", account_id=acc.id,
                           credit_limit=Decimal("90000000"), financing_rate=Decimal("0.06"),
                           lending_rate=Decimal("0.08"), warning_line=Decimal("1.40"),
                           liquidation_line=Decimal("1.30"), withdrawal_line=Decimal("3.00"),
                           financing_debt=Decimal(financing), start_on=date(2025, 1, 2), end_on=date(2027, 1, 2))
        session.add(m)
        session.flush()
        return m

    contract(people["贷得多"], "60000000")  # 7,999.5 万 gross - 6,000 万 debt = 1,999.5 万 net
    # 5,270,000 gross; 800 茅台 owed at 1,500 = 1,200,000 re-priced (marked at 1,000,000): 4,070,000 net
    short = contract(people["空得多"], "0")
    short.lending_debt = Decimal("1000000")
    session.add(MarginShort(contract_id=short.id, symbol="600519.SH", quantity=Decimal(800)))
    session.commit()

    picked = demo.pick_customers(session)
    ids = {name: c.id for name, c in people.items()}
    assert picked["demo_vip"] == ids["钱多多"]  # 6,004.5 万 net; 贷得多 held more gross
    assert picked["demo_margin"] == ids["空得多"]  # the median margin customer by net assets
    assert picked["demo_mass"] == ids["孙中"] and picked["demo_longtail"] == ids["李小"]
    net = {r.customer_id: r for r in net_assets_by_customer(session)}
    assert net[ids["贷得多"]].net_assets == Decimal("19995000.00")
    assert net[ids["空得多"]].liabilities == Decimal("1200000.00")

    batch.run(engine)
    session.expire_all()
    tiers = {login: get_profile(session, cid).tier for login, cid in picked.items()}
    assert tiers["demo_vip"] == "vip" and tiers["demo_mass"] == "mass" and tiers["demo_longtail"] == "long_tail"
    assert get_profile(session, ids["贷得多"]).tier == "potential"
    assert get_profile(session, ids["空得多"]).aum == Decimal("4070000.00")
