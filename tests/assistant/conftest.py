"""A small brokerage for reply tests: customers with holdings, transfers and a margin account."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from brokercare.accounts.models import Account, CashMovement, MarginContract, Position
from brokercare.advisory.models import RiskAssessment
from brokercare.customers.models import Customer
from brokercare.market.models import Instrument

D = Decimal


def _customer(session, n: int, name: str, level: str | None) -> Customer:
    c = Customer(
        customer_no=f"C{n:09d}", name=name, gender="F", birth_date=date(1978, 4, 2),
        id_number_enc="enc", id_number_hash=f"asst-id-{n}", phone_enc="enc", phone_hash=f"asst-p-{n}",
        province="浙江", city="杭州", occupation="会计", branch_code="HZ001", opened_on=date(2019, 3, 1),
        risk_level=level,
    )
    session.add(c)
    session.flush()
    if level:
        today = date.today()
        session.add(RiskAssessment(customer_id=c.id, level=level, score=40, assessed_on=today - timedelta(days=60),
                                   valid_until=today + timedelta(days=600)))
    return c


def _account(session, customer, no, kind="cash", cash="20000", status="active") -> Account:
    a = Account(account_no=no, customer_id=customer.id, kind=kind, status=status, opened_on=date(2019, 3, 1),
                branch_code="HZ001", commission_rate=D("0.00025"), cash_balance=D(cash), bank_name="招商银行")
    session.add(a)
    session.flush()
    return a


@pytest.fixture
def brokerage(session):
    for sym, code, ex, name, kind, board, price, risk in [
        ("600519.SH", "600519", "SH", "贵州茅台", "stock", "main", "1500", None),
        ("300750.SZ", "300750", "SZ", "宁德时代", "stock", "chinext", "180", None),
        ("000001.SZ", "000001", "SZ", "平安银行", "stock", "main", "10", None),
        ("161725.OF", "161725", "OF", "招商中证白酒指数", "fund", "index", "1.05", "R4"),
    ]:
        session.add(Instrument(symbol=sym, code=code, exchange=ex, name=name, kind=kind, board=board,
                               last_price=D(price), risk_rating=risk, lot_size=100))
    session.flush()
    wang = _customer(session, 1, "王芳", "C3")
    cash = _account(session, wang, "310000000001", cash="20000")
    for sym, qty, cost in [("600519.SH", 200, "1800"), ("300750.SZ", 300, "240"), ("000001.SZ", 1000, "11")]:
        session.add(Position(account_id=cash.id, symbol=sym, quantity=D(qty), available_quantity=D(qty),
                             cost_price=D(cost)))
    session.add(CashMovement(movement_no="T20260001", account_id=cash.id, kind="bank_out", amount=D("-50000"),
                             status="pending", bank_name="招商银行",
                             occurred_at=datetime.now(UTC) - timedelta(hours=3)))
    margin = _account(session, wang, "310000000002", kind="margin", cash="10000")
    session.add(Position(account_id=margin.id, symbol="300750.SZ", quantity=D(1000), available_quantity=D(1000),
                         cost_price=D("230")))
    # assets 10,000 + 1,000 × 180 = 190,000; liabilities 150,000 → 126.7 %, below the 130 % line.
    session.add(MarginContract(contract_no="MC001", account_id=margin.id, credit_limit=D("500000"),
                               financing_rate=D("0.0835"), lending_rate=D("0.1035"), warning_line=D("1.40"),
                               liquidation_line=D("1.30"), withdrawal_line=D("3.00"), topup_days=2,
                               financing_debt=D("150000"), start_on=date(2026, 1, 5), end_on=date(2026, 7, 4)))
    zhao = _customer(session, 2, "赵强", "C1")
    _account(session, zhao, "310000000003", cash="5000", status="frozen")
    nobody = _customer(session, 3, "孙丽", None)
    _account(session, nobody, "310000000004", cash="800")
    session.commit()
    return {"wang": wang, "zhao": zhao, "sun": nobody}
