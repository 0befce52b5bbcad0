"""A small brokerage on the evening of 2026-06-16 (a Tuesday): the last days' daily bars in the
quote store, holdings, the day's trades, a margin account, tomorrow's new share and a result due
(real rows, no mocks)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session
from tests.monitoring.brokerage import add_account, add_customer, add_instruments, hold, margin

from brokercare.accounts.models import Trade
from brokercare.core.calendar import trading_days
from brokercare.market.models import DailyBar, Instrument
from brokercare.monitoring.ipo import quota_window
from brokercare.monitoring.models import IpoApplication, IpoIssue, MarketValueDaily
from brokercare.monitoring.preferences import set_preferences

DAY = date(2026, 6, 16)
PREV = date(2026, 6, 15)
NEXT = date(2026, 6, 17)

#: symbol -> closes of 06-11, 06-12, 06-15 (previous) and 06-16 (the day)
CLOSES = {
    "600519.SH": ("1480.00", "1490.00", "1500.00", "1530.00"),
    "000001.SZ": ("9.90", "9.95", "10.00", "10.10"),
    "300750.SZ": ("201.00", "199.00", "200.00", "198.00"),
    # ST (5 % limit): 22.16 -> 21.05 (limit-down) -> 20.00 (limit-down) -> 19.00 (limit-down)
    "600137.SH": ("22.16", "21.05", "20.00", "19.00"),
    "601318.SH": ("49.00", "49.50", "50.00", "50.00"),
}
FEE_SELL = Decimal("5.10")
FEE_BUY = Decimal("10.25")


def _trade(session: Session, account, no: str, symbol: str, side: str, qty: int, price: str, fee: Decimal) -> None:
    amount = Decimal(qty) * Decimal(price)
    session.add(Trade(trade_no=no, account_id=account.id, symbol=symbol, side=side, price=Decimal(price),
                      quantity=Decimal(qty), amount=amount, commission=fee, stamp_duty=Decimal("0"),
                      transfer_fee=Decimal("0"), traded_at=datetime(2026, 6, 16, 2, 30, tzinfo=UTC)))


def build_world(session: Session) -> dict:
    add_instruments(session)
    session.get(Instrument, "300750.SZ").risk_rating = "R4"
    session.get(Instrument, "600519.SH").risk_rating = "R3"
    days = trading_days(date(2026, 6, 11), DAY)
    for symbol, closes in CLOSES.items():
        session.add_all(DailyBar(symbol=symbol, day=d, open=Decimal(c), high=Decimal(c), low=Decimal(c),
                                 close=Decimal(c), volume=1e6) for d, c in zip(days, closes, strict=True))
    lixia = add_customer(session, 1)
    lixia.name, lixia.risk_level = "李霞", "C3"
    cash = add_account(session, lixia, cash="50000")
    hold(session, cash, "600519.SH", 100, "1400.00")
    hold(session, cash, "000001.SZ", 500, "9.50")  # held 1,000, sold 500 today
    hold(session, cash, "300750.SZ", 200, "205.05")  # bought 200 today
    hold(session, cash, "600137.SH", 1000, "25.00")
    _trade(session, cash, "T1", "000001.SZ", "sell", 500, "10.20", FEE_SELL)
    _trade(session, cash, "T2", "300750.SZ", "buy", 200, "205.00", FEE_BUY)
    wang = add_customer(session, 2)
    wang.name, wang.risk_level = "王建国", "C4"
    wang_cash = add_account(session, wang, cash="1000")
    hold(session, wang_cash, "601318.SH", 200, "52.00")  # the same share in both accounts: one line
    credit = add_account(session, wang, "margin", cash="10000")
    hold(session, credit, "601318.SH", 1000, "48.00")
    margin(session, credit, "45000")  # (10,000 + 50,000) / 45,000 = 133.33 %: below the 140 % line
    issue = IpoIssue(code="732999", symbol="603999.SH", name="华宏科技", exchange="SH", board="main",
                     subscribe_on=NEXT, price=Decimal("18.88"), max_shares=12000, results_on=date(2026, 6, 19),
                     payment_on=date(2026, 6, 19), source="test")
    earlier = IpoIssue(code="301888", symbol="301888.SZ", name="星辰电子", exchange="SZ", board="chinext",
                       subscribe_on=PREV, price=Decimal("25.00"), max_shares=8000, results_on=NEXT,
                       payment_on=NEXT, source="test")
    session.add_all([issue, earlier])
    session.flush()
    session.add(IpoApplication(customer_id=lixia.id, issue_id=earlier.id, shares=2000, quota=2000))
    for d in trading_days(*quota_window(NEXT)):
        session.add(MarketValueDaily(customer_id=lixia.id, day=d, exchange="SH", value=Decimal("52000")))
    set_preferences(session, lixia.id, daily_report=True)
    session.commit()
    return {"lixia": lixia.id, "wang": wang.id}
