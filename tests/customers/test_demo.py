"""The demo's customer logins land on telling customers (picked by net assets, as the CDP's tiers
count them), their personal data is read once by compliance on the ledger, and profiles exist."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
from brokerage import Brokerage
from sqlalchemy import select

from brokercare.accounts.models import Account, MarginContract, MarginShort
from brokercare.accounts.service import net_assets_by_customer
from brokercare.customers import batch
from brokercare.customers import demo as customers_demo
from brokercare.customers.service import get_profile
from brokercare.ledger import service as ledger
from brokercare.security import demo as security_demo
from brokercare.security.models import User
from brokercare.security.policy import ROLES
from brokercare.security.service import authenticate


def _brokerage(session, people: list[tuple[str, int, str]]) -> dict[str, int]:
    """Customers holding ``qty`` shares of each of 茅台 (1,500 元) and 宁德时代 (250 元) in an
    account of ``kind``, plus 20,000 元 of cash there: 1,750 元 of stock per unit."""
    b = Brokerage(session)
    ids = {}
    for name, qty, kind in people:
        c, cash_account = b.customer(name=name, cash="20000.00" if kind == "cash" else "0")
        acct = cash_account if kind == "cash" else b.account(c, kind="margin", cash="20000.00")
        for symbol in ("600519.SH", "300750.SZ"):
            b.hold(acct, symbol, str(qty), "100.0000", opened_on=date(2024, 3, 1))
        ids[name] = c.id
    return ids


def test_demo_customer_logins_land_on_the_picked_customers(session, engine) -> None:
    ids = _brokerage(session, [("钱多多", 20000, "cash"), ("孙中", 1000, "cash"), ("李小", 100, "cash"),
                               ("周融", 3000, "margin")])
    session.commit()

    summary = SimpleNamespace(counts={}, notes=[], add=lambda t, n: summary.counts.__setitem__(t, n))
    for _ in range(2):  # idempotent
        security_demo.generate(engine, np.random.default_rng(1), summary)
        customers_demo.generate(engine, np.random.default_rng(1), summary)

    assert set(session.scalars(select(User.role))) == set(ROLES)
    by_login = {u.username: u.customer_id for u in session.scalars(select(User).where(User.role == "customer"))}
    assert by_login == {"demo_vip": ids["钱多多"], "demo_margin": ids["周融"], "demo_mass": ids["孙中"],
                        "demo_longtail": ids["李小"]}
    assert authenticate(session, "demo_vip", customers_demo.CUSTOMER_PASSWORD).customer_id == ids["钱多多"]
    # one compliance read of each picked customer per run, every entry verifiable
    assert ledger.size(session) >= 8 and ledger.verify(session).ok
    assert any("demo_vip" in note for note in summary.notes)
    assert get_profile(session, ids["钱多多"]).stored


def test_demo_customers_are_picked_by_net_assets_and_fall_in_their_cdp_tier(session, engine) -> None:
    """A customer holding 8,000 万 with 6,000 万 of margin debt owns 2,000 万 (潜力), not a VIP book;
    demo_vip goes to the one who owns 6,000 万, and each pick is in its tier by the CDP's rules."""
    ids = _brokerage(session, [("钱多多", 34300, "cash"), ("贷得多", 45700, "margin"), ("孙中", 1000, "cash"),
                               ("李小", 100, "cash"), ("空得多", 3000, "margin")])

    def contract(customer_id: int, financing: str) -> MarginContract:
        acc = session.scalar(select(Account).where(Account.customer_id == customer_id, Account.kind == "margin"))
        m = MarginContract(contract_no=f"RZ{customer_id:08d}", account_id=acc.id,
                           credit_limit=Decimal("90000000"), financing_rate=Decimal("0.06"),
                           lending_rate=Decimal("0.08"), warning_line=Decimal("1.40"),
                           liquidation_line=Decimal("1.30"), withdrawal_line=Decimal("3.00"),
                           financing_debt=Decimal(financing), start_on=date(2025, 1, 2), end_on=date(2027, 1, 2))
        session.add(m)
        session.flush()
        return m

    contract(ids["贷得多"], "60000000")  # 7,999.5 万 gross - 6,000 万 debt = 1,999.5 万 net
    # 5,270,000 gross; 800 茅台 owed at 1,500 = 1,200,000 re-priced (marked at 1,000,000): 4,070,000 net
    short = contract(ids["空得多"], "0")
    short.lending_debt = Decimal("1000000")
    session.add(MarginShort(contract_id=short.id, symbol="600519.SH", quantity=Decimal(800)))
    session.commit()

    picked = customers_demo.pick_customers(session)
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
