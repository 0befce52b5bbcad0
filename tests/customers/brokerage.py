"""A small hand-built brokerage for CDP and accounts tests: real symbols, exact amounts."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from brokercare.accounts.models import Account, CashMovement, MarginContract, Order, Position, Trade
from brokercare.advisory.models import RiskAssessment
from brokercare.customers.models import (
    AssessedRisk,
    BehaviourEvent,
    Customer,
    FamilyMember,
    LifeEvent,
)
from brokercare.market.models import Instrument
from brokercare.security.crypto import blind_index, get_cipher

INSTRUMENTS = [
    # symbol, code, exchange, name, kind, board, risk, currency, price
    ("600519.SH", "600519", "SH", "贵州茅台", "stock", "main", "R3", "CNY", "1500.0000"),
    ("300750.SZ", "300750", "SZ", "宁德时代", "stock", "chinext", "R4", "CNY", "250.0000"),
    ("688981.SH", "688981", "SH", "中芯国际", "stock", "star", "R4", "CNY", "90.0000"),
    ("430047.BJ", "430047", "BJ", "诺思兰德", "stock", "bse", "R5", "CNY", "12.5000"),
    ("000001.OF", "000001", "OF", "华夏成长混合", "fund", "mixed", "R3", "CNY", "1.2000"),
    ("003003.OF", "003003", "OF", "华夏现金增利货币A", "fund", "money", "R1", "CNY", "1.0000"),
    ("019547.SH", "019547", "SH", "24国债09", "bond", "main", "R1", "CNY", "100.0000"),
    ("513100.SH", "513100", "SH", "纳指ETF", "etf", "qdii", "R4", "CNY", "1.5000"),
    ("204001.SH", "204001", "SH", "GC001", "repo", "main", "R1", "CNY", "100.0000"),
]

NOW = datetime.now(UTC)


class Brokerage:
    """Adds customers, accounts and history through the ORM (tests only; batch code never does)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._seq = itertools.count(1)
        if session.get(Instrument, "600519.SH") is None:
            for sym, code, exch, name, kind, board, risk, cur, price in INSTRUMENTS:
                session.add(Instrument(symbol=sym, code=code, exchange=exch, name=name, kind=kind,
                                       board=board, risk_rating=risk, currency=cur,
                                       last_price=Decimal(price), lot_size=100))
            session.flush()

    def customer(
        self,
        *,
        name: str = "张伟",
        gender: str = "M",
        birth: date = date(1985, 6, 1),
        city: str = "上海",
        phone: str | None = None,
        id_number: str | None = None,
        marital_status: str = "married",
        occupation: str = "工程师",
        income: str | None = "360000",
        opened_on: date = date(2019, 3, 1),
        risk_level: str | None = "C3",
        cash: str = "0",
    ) -> tuple[Customer, Account]:
        n = next(self._seq)
        cipher = get_cipher(self.session)
        phone = phone or f"1381234{n:04d}"
        id_number = id_number or f"11010519850601{n:04d}"
        c = Customer(
            customer_no=f"C{n:09d}", name=name, gender=gender, birth_date=birth,
            id_number_enc=cipher.encrypt(id_number), id_number_hash=blind_index(id_number),
            phone_enc=cipher.encrypt(phone), phone_hash=blind_index(phone),
            address_enc=cipher.encrypt("上海市浦东新区世纪大道100号"), province="上海", city=city,
            occupation=occupation, education="本科",
            annual_income=Decimal(income) if income else None, marital_status=marital_status,
            branch_code="SH01", opened_on=opened_on, risk_level=risk_level,
        )
        self.session.add(c)
        self.session.flush()
        if risk_level:
            self.assessment(c, risk_level, score=55, assessed_on=date.today() - timedelta(days=100))
        acct = self.account(c, cash=cash)
        return c, acct

    def assessment(self, customer: Customer, level: str, *, score: int, assessed_on: date) -> None:
        """An assessment in the advisory domain's table and, as ``risk.assessed`` would leave it,
        in the customers domain's copy of the latest one."""
        valid_until = assessed_on + timedelta(days=730)
        a = RiskAssessment(customer_id=customer.id, level=level, score=score, assessed_on=assessed_on,
                           valid_until=valid_until)
        self.session.add(a)
        self.session.flush()
        copy = self.session.get(AssessedRisk, customer.id)
        if copy is None:
            copy = AssessedRisk(customer_id=customer.id, assessments=0)
            self.session.add(copy)
        copy.assessments += 1
        copy.assessment_id, copy.level, copy.score = a.id, level, score
        copy.assessed_on, copy.valid_until = assessed_on, valid_until
        self.session.flush()

    def account(self, customer: Customer, *, kind: str = "cash", cash: str = "0") -> Account:
        n = next(self._seq)
        a = Account(account_no=f"A{n:011d}", customer_id=customer.id, kind=kind,
                    opened_on=customer.opened_on, branch_code="SH01",
                    commission_rate=Decimal("0.000250"), cash_balance=Decimal(cash))
        self.session.add(a)
        self.session.flush()
        return a

    def hold(self, account: Account, symbol: str, qty: str, cost: str,
             opened_on: date | None = None) -> Position:
        p = Position(account_id=account.id, symbol=symbol, quantity=Decimal(qty),
                     available_quantity=Decimal(qty), cost_price=Decimal(cost),
                     opened_on=opened_on or date.today() - timedelta(days=200))
        self.session.add(p)
        self.session.flush()
        return p

    def trade(self, account: Account, symbol: str, side: str, qty: str, price: str,
              when: datetime | None = None) -> Trade:
        n = next(self._seq)
        amount = (Decimal(qty) * Decimal(price)).quantize(Decimal("0.01"))
        t = Trade(trade_no=f"T{n:012d}", account_id=account.id, symbol=symbol, side=side,
                  price=Decimal(price), quantity=Decimal(qty), amount=amount,
                  commission=max(Decimal("5"), (amount * Decimal("0.00025")).quantize(Decimal("0.01"))),
                  stamp_duty=(amount * Decimal("0.0005")).quantize(Decimal("0.01")) if side == "sell"
                  else Decimal("0"), transfer_fee=(amount * Decimal("0.00001")).quantize(Decimal("0.01")),
                  traded_at=when or NOW - timedelta(days=1))
        self.session.add(t)
        self.session.flush()
        return t

    def order(self, account: Account, symbol: str, status: str, when: datetime | None = None) -> Order:
        n = next(self._seq)
        o = Order(order_no=f"O{n:012d}", account_id=account.id, symbol=symbol, side="buy",
                  price=Decimal("10"), quantity=Decimal("100"), status=status,
                  placed_at=when or NOW - timedelta(days=2))
        self.session.add(o)
        return o

    def transfer(self, account: Account, amount: str, when: datetime | None = None,
                 kind: str | None = None) -> CashMovement:
        n = next(self._seq)
        value = Decimal(amount)
        m = CashMovement(movement_no=f"M{n:012d}", account_id=account.id,
                         kind=kind or ("bank_in" if value > 0 else "bank_out"), amount=value,
                         occurred_at=when or NOW - timedelta(days=3))
        self.session.add(m)
        return m

    def margin(self, customer: Customer, *, cash: str, financing: str, credit_limit: str) -> Account:
        a = self.account(customer, kind="margin", cash=cash)
        n = next(self._seq)
        self.session.add(MarginContract(
            contract_no=f"MC{n:010d}", account_id=a.id, credit_limit=Decimal(credit_limit),
            financing_rate=Decimal("0.06"), lending_rate=Decimal("0.08"), warning_line=Decimal("1.40"),
            liquidation_line=Decimal("1.30"), withdrawal_line=Decimal("3.00"),
            financing_debt=Decimal(financing), start_on=date.today() - timedelta(days=300),
            end_on=date.today() + timedelta(days=65)))
        self.session.flush()
        return a

    def behaviour(self, customer: Customer, kind: str, *, days_ago: float = 1, **fields) -> None:
        self.session.add(BehaviourEvent(customer_id=customer.id, kind=kind,
                                        occurred_at=NOW - timedelta(days=days_ago), **fields))

    def family(self, customer: Customer, relation: str, birth_year: int) -> None:
        self.session.add(FamilyMember(customer_id=customer.id, relation=relation, birth_year=birth_year))

    def life_event(self, customer: Customer, kind: str, occurred_on: date) -> None:
        self.session.add(LifeEvent(customer_id=customer.id, kind=kind, occurred_on=occurred_on))
