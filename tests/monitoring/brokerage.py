"""A small, realistic brokerage for monitoring tests (real table rows, no mocks)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from brokercare.accounts.models import Account, MarginContract, Position
from brokercare.customers.models import Customer
from brokercare.market.models import Instrument

INSTRUMENTS = [
    # symbol, name, board, last_price (previous close), is_st, listed_on
    ("600519.SH", "贵州茅台", "main", "1500.00", False, date(2001, 8, 27)),
    ("300750.SZ", "宁德时代", "chinext", "200.00", False, date(2018, 6, 11)),
    ("000001.SZ", "平安银行", "main", "10.00", False, date(1991, 4, 3)),
    ("688981.SH", "中芯国际", "star", "50.00", False, date(2020, 7, 16)),
    ("600036.SH", "招商银行", "main", "35.00", False, date(2002, 4, 9)),
    ("000651.SZ", "格力电器", "main", "40.00", False, date(1996, 11, 18)),
    ("600137.SH", "ST浪莎", "main", "20.00", True, date(1999, 7, 30)),
    ("601318.SH", "中国平安", "main", "50.00", False, date(2007, 3, 1)),
]


def add_instruments(session: Session) -> None:
    for sym, name, board, price, st, listed in INSTRUMENTS:
        code, ex = sym.split(".")
        session.add(
            Instrument(
                symbol=sym,
                code=code,
                exchange=ex,
                name=name,
                kind="stock",
                board=board,
                listed_on=listed,
                is_st=st,
                lot_size=100,
                last_price=Decimal(price),
                price_source="history",
            )
        )
    session.flush()


def add_customer(session: Session, n: int) -> Customer:
    c = Customer(
        customer_no=f"C{n:08d}",
        name=f"客户{n}",
        gender="F" if n % 2 else "M",
        birth_date=date(1980, 1, 1),
        id_number_enc="enc",
        id_number_hash=f"idh{n}",
        phone_enc="enc",
        phone_hash=f"ph{n}",
        province="广东",
        city="深圳",
        occupation="工程师",
        branch_code="B001",
        opened_on=date(2020, 1, 2),
    )
    session.add(c)
    session.flush()
    return c


def add_account(
    session: Session, customer: Customer, kind: str = "cash", cash: str = "10000"
) -> Account:
    a = Account(
        account_no=f"{kind[0].upper()}{customer.id:09d}",
        customer_id=customer.id,
        kind=kind,
        opened_on=date(2020, 1, 2),
        branch_code="B001",
        commission_rate=Decimal("0.00025"),
        cash_balance=Decimal(cash),
    )
    session.add(a)
    session.flush()
    return a


def hold(session: Session, account: Account, symbol: str, qty: int, cost: str) -> None:
    session.add(
        Position(
            account_id=account.id,
            symbol=symbol,
            quantity=Decimal(qty),
            available_quantity=Decimal(qty),
            cost_price=Decimal(cost),
        )
    )


def margin(
    session: Session, account: Account, debt: str, *, warning="1.40", liquidation="1.30"
) -> MarginContract:
    m = MarginContract(
        contract_no=f"RZ{account.id:08d}",
        account_id=account.id,
        credit_limit=Decimal("1000000"),
        financing_rate=Decimal("0.06"),
        lending_rate=Decimal("0.08"),
        warning_line=Decimal(warning),
        liquidation_line=Decimal(liquidation),
        withdrawal_line=Decimal("3.00"),
        topup_days=2,
        financing_debt=Decimal(debt),
        start_on=date(2025, 1, 2),
        end_on=date(2026, 12, 31),
    )
    session.add(m)
    session.flush()
    return m


def small_brokerage(session: Session, n_customers: int = 40) -> dict:
    """Customers holding the test instruments; every fifth one has a margin account."""
    add_instruments(session)
    out = {"customers": [], "margin": []}
    symbols = [s for s, *_ in INSTRUMENTS]
    for n in range(1, n_customers + 1):
        c = add_customer(session, n)
        a = add_account(session, c)
        for k in range(3):
            sym = symbols[(n + k) % len(symbols)]
            hold(session, a, sym, 100 * (1 + (n + k) % 5), "30.00")
        out["customers"].append(c.id)
        if n % 5 == 0:
            m = add_account(session, c, "margin", cash="20000")
            hold(session, m, "300750.SZ", 1000, "180.00")  # 200,000 of stock
            # assets 220,000; ratio = 220,000 / debt; 150,000 -> 146.7 %: just above the warning line
            margin(session, m, "150000")
            out["margin"].append(m.id)
    session.flush()
    return out
