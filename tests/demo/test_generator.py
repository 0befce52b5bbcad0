"""A generated brokerage looks and adds up like a real one (both backends, a few hundred customers)."""

from __future__ import annotations

from collections import Counter
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from brokercare.accounts import service as accounts_service
from brokercare.accounts.models import Account, CashMovement, MarginContract, Order, Position, Trade
from brokercare.advisory import catalogue
from brokercare.advisory.models import RiskAssessment
from brokercare.core.calendar import is_trading_day
from brokercare.core.database import Base, make_engine, money
from brokercare.core.errors import ValidationFailed
from brokercare.core.identifiers import is_valid_card, is_valid_id_number
from brokercare.customers import service as customers_service
from brokercare.customers.models import BehaviourEvent, Customer, FamilyMember
from brokercare.demo.brokerage import generate_brokerage
from brokercare.demo.population import CITIES
from brokercare.market.models import Instrument
from brokercare.market.reference import shipped_index_closes
from brokercare.security.crypto import blind_index, get_cipher
from brokercare.security.models import User

AS_OF = date(2026, 11, 27)
SH = ZoneInfo("Asia/Shanghai")
N = 400


@pytest.fixture
def brokerage(engine):
    return generate_brokerage(engine, customers=N, seed=7, as_of=AS_OF, workers=1,
                              run_domain_hooks=False)


def _aum_by_customer(session) -> dict[int, float]:
    """Cash + holdings at reference prices - margin debt, per customer."""
    cash = dict(session.execute(select(Account.customer_id, func.sum(Account.cash_balance))
                                .group_by(Account.customer_id)).all())
    mv = dict(session.execute(
        select(Account.customer_id, func.sum(Position.quantity * Instrument.last_price))
        .join(Position, Position.account_id == Account.id)
        .join(Instrument, Instrument.symbol == Position.symbol).group_by(Account.customer_id)).all())
    debt = dict(session.execute(
        select(Account.customer_id, func.sum(MarginContract.financing_debt))
        .join(MarginContract, MarginContract.account_id == Account.id)
        .group_by(Account.customer_id)).all())
    return {c: float(cash[c]) + float(mv.get(c) or 0) - float(debt.get(c) or 0) for c in cash}


def test_tiers_boards_and_margin_look_like_a_brokerage(brokerage, session):
    aum = _aum_by_customer(session)
    assert len(aum) == N
    tiers = Counter("vip" if a >= 5e7 else "potential" if a >= 5e6 else "mass" if a >= 5e5
                    else "long_tail" for a in aum.values())
    assert 0.80 <= tiers["long_tail"] / N <= 0.92
    assert 0.07 <= tiers["mass"] / N <= 0.19
    assert tiers["potential"] / N <= 0.04 and tiers["vip"] / N <= 0.01
    # the generator's own tier count agrees with what the accounts add up to
    assert abs(tiers["long_tail"] - brokerage.tiers["long_tail"]) <= 0.01 * N

    boards = Counter(session.execute(
        select(Instrument.board).join(Position, Position.symbol == Instrument.symbol)).scalars())
    for board in ("main", "chinext", "star", "bse", "money", "bond", "repo"):
        assert boards[board] > 0, board

    margin = session.scalar(select(func.count()).where(Account.kind == "margin"))
    assert 0.015 <= margin / N <= 0.055
    ratios = []
    for contract, account in session.execute(
            select(MarginContract, Account).join(Account, Account.id == MarginContract.account_id)):
        assets = float(account.cash_balance) + sum(
            float(p.quantity) * float(i.last_price) for p, i in session.execute(
                select(Position, Instrument).join(Instrument, Instrument.symbol == Position.symbol)
                .where(Position.account_id == account.id)))
        ratio = assets / float(contract.financing_debt)
        assert ratio > float(contract.liquidation_line)
        lines = (contract.warning_line, contract.liquidation_line, contract.withdrawal_line)
        assert tuple(float(x) for x in lines) in {(1.4, 1.3, 3.0), (1.5, 1.3, 3.0)}
        ratios.append(ratio)
    ratios.sort()
    assert 1.8 <= ratios[len(ratios) // 2] <= 4.5


def test_star_and_bse_holders_have_the_permissions(brokerage, session):
    aum = _aum_by_customer(session)
    rows = session.execute(
        select(Account.customer_id, Customer.risk_level, Instrument.board)
        .join(Position, Position.account_id == Account.id)
        .join(Instrument, Instrument.symbol == Position.symbol)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Instrument.board.in_(["star", "bse"]))).all()
    assert rows
    for customer_id, level, _board in rows:
        assert aum[customer_id] >= 500_000 * 0.95  # 50万 at opening; prices move since
        assert level in ("C4", "C5")


def test_identity_numbers_cards_and_managers_are_real_looking(brokerage, session):
    cipher = get_cipher(session)
    region_of = {c[0]: c[3] for c in CITIES}
    for c in session.scalars(select(Customer)):
        number = cipher.decrypt(c.id_number_enc)
        assert is_valid_id_number(number, on=AS_OF)
        assert number[6:14] == c.birth_date.strftime("%Y%m%d")
        assert number[:6] == region_of[c.city]
        assert int(number[16]) % 2 == (1 if c.gender == "M" else 0)
        assert c.id_number_hash == blind_index(number)
        phone = cipher.decrypt(c.phone_enc)
        assert len(phone) == 11 and phone[:3] in {"139", "138", "137", "136", "135", "134", "150",
                                                  "151", "152", "157", "158", "159", "182", "183",
                                                  "184", "187", "188", "178", "198", "147", "130",
                                                  "131", "132", "155", "156", "185", "186", "176",
                                                  "166", "133", "153", "180", "181", "189", "177",
                                                  "173", "199", "191"}
        assert c.city in cipher.decrypt(c.address_enc)
        age = (AS_OF - c.birth_date).days // 365
        assert 18 <= age <= 90
        if c.occupation == "学生":
            assert age <= 25
        if c.occupation == "退休":
            assert age >= 55
    for a in session.scalars(select(Account).limit(50)):
        assert is_valid_card(cipher.decrypt(a.bank_card_enc))
    # VIP and potential customers have a customer manager who works at their branch
    managers = {u.id: u for u in session.scalars(select(User).where(User.role == "customer_manager"))}
    aum = _aum_by_customer(session)
    for c in session.scalars(select(Customer)):
        if aum[c.id] >= 5_000_000 * 1.05:
            assert c.manager_id in managers
            assert managers[c.manager_id].branch_code == c.branch_code


def test_trades_fees_and_movements_follow_the_rules(brokerage, session):
    trades = session.scalars(select(Trade)).all()
    assert len(trades) > N  # a year of trading
    open_ = (time(9, 30), time(15, 0))
    for t in trades:
        local = t.traded_at.astimezone(SH)
        assert is_trading_day(local.date()), t.traded_at
        assert open_[0] <= local.time() <= open_[1]
        assert local.date() <= AS_OF
        if t.symbol.startswith(("204", "1318")):
            assert t.stamp_duty == 0 and t.side == "sell"
            continue
        assert t.amount == money(t.price * t.quantity)
        etf = t.symbol.startswith(("5", "15"))
        if not etf:
            assert t.commission >= 5
            expected_duty = money(t.amount * 5 / 10_000) if t.side == "sell" else 0
            assert t.stamp_duty == expected_duty
            assert t.transfer_fee == money(t.amount / 100_000)
        if t.symbol.startswith(("688", "689")):
            assert t.quantity >= 200
        elif not t.symbol.endswith(".BJ"):
            assert t.quantity % 100 == 0
    filled = session.scalar(select(func.count()).where(Order.status == "filled"))
    assert filled == len(trades)
    assert session.scalar(select(func.count()).where(Order.status == "cancelled")) > 0
    for m in session.scalars(select(CashMovement)):
        assert is_trading_day(m.occurred_at.astimezone(SH).date())
    logins = session.scalars(select(BehaviourEvent).where(BehaviourEvent.kind == "login")).all()
    assert logins and all(e.ip and e.device_id and e.geo_city for e in logins)
    topics = set(session.scalars(select(BehaviourEvent.topic).where(BehaviourEvent.kind == "content_read")))
    assert {"子女教育", "养老规划"} & topics
    levels = Counter(session.scalars(select(RiskAssessment.level)))
    assert set(levels) == {"C1", "C2", "C3", "C4", "C5"}


def test_same_seed_gives_the_same_brokerage_whatever_the_workers(tmp_path, monkeypatch):
    monkeypatch.setattr("brokercare.demo.brokerage.CHUNK", 100)  # three chunks: one process, then two workers

    def build(name, workers):
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        Base.metadata.create_all(engine)
        generate_brokerage(engine, customers=250, seed=11, as_of=AS_OF, workers=workers,
                           run_domain_hooks=False)
        with engine.connect() as conn:
            cipher_rows = conn.execute(select(Customer.id, Customer.name, Customer.birth_date,
                                              Customer.city, Customer.id_number_hash,
                                              Customer.phone_hash)).all()
            positions = conn.execute(select(Position.account_id, Position.symbol,
                                            Position.quantity)).all()
            trades = conn.execute(select(Trade.symbol, Trade.price, Trade.quantity,
                                         Trade.traded_at)).all()
        engine.dispose()
        return cipher_rows, positions, trades

    first, second = build("a.db", 1), build("b.db", 2)
    assert first == second
    assert len(first[0]) == 250 and len(first[2]) > 0


def test_generating_twice_adds_a_second_cohort(engine, session):
    generate_brokerage(engine, customers=60, seed=1, as_of=AS_OF, workers=1, run_domain_hooks=False)
    generate_brokerage(engine, customers=60, seed=2, as_of=AS_OF, workers=1, run_domain_hooks=False)
    assert session.scalar(select(func.count()).select_from(Customer)) == 120
    assert session.scalar(select(func.count(func.distinct(Customer.id_number_hash)))) == 120
    # the ORM can still add rows after bulk loading with explicit ids (PostgreSQL sequences)
    session.add(FamilyMember(customer_id=1, relation="parent", birth_year=1950))
    session.commit()


def test_funds_within_the_customers_level_and_510300_as_the_shelf_prices_it(brokerage, session):
    """Fund holdings respect each fund's own rating (the master's, which the suitability check
    reads); 510300 carries the advisory shelf's rating and a price from the real 沪深300 close."""
    rows = session.execute(
        select(Customer.risk_level, Instrument.risk_rating)
        .join(Account, Account.customer_id == Customer.id)
        .join(Position, Position.account_id == Account.id)
        .join(Instrument, Instrument.symbol == Position.symbol)
        .where(Instrument.kind == "fund")).all()
    assert len(rows) > N // 4
    assert all(int(rating[1]) <= (int(level[1]) if level else 1) for level, rating in rows)
    ratings = Counter(rating for _, rating in rows)
    assert ratings["R3"] > 0 and ratings["R4"] > 0

    etf = session.get(Instrument, "510300.SH")
    closes = [c for _, c in shipped_index_closes()["sh000300"]]
    assert min(closes) / 1000 <= float(etf.last_price) <= max(closes) * 1.05 / 1000
    assert etf.risk_rating == catalogue.get("510300.SH")["risk"]


def test_each_domain_loads_only_its_own_tables(engine, session):
    """The demo writes through each domain's bulk load; a frame for another domain's table is
    refused before anything is written."""
    frames = {"customers": {"id": [1], "name": ["王芳"]}, "accounts": {"id": [1]}}
    with engine.connect() as conn:
        with pytest.raises(ValueError, match="accounts"):
            customers_service.load_frames(conn, frames)
        with pytest.raises(ValueError, match="customers"):
            accounts_service.load_frames(conn, frames)
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_weak_demo_staff_password_is_refused(engine, session, monkeypatch):
    monkeypatch.setenv("BROKERCARE_DEMO_STAFF_PASSWORD", "12345678")
    with pytest.raises(ValidationFailed, match="字母和数字"):
        generate_brokerage(engine, customers=20, seed=1, as_of=AS_OF, workers=1, run_domain_hooks=False)
    assert session.scalar(select(func.count()).select_from(User)) == 0
    assert session.scalar(select(func.count()).select_from(Customer)) == 0
