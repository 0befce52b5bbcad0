"""The daily report over a generated demo brokerage: each holding moves by its own close in the
quote store (no more one "+2.00%" for everything), money-market funds do not move, and every
customer's P&L is what the trade rows, the positions and the daily bars say."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from brokercare.accounts.models import Account, Position, Trade
from brokercare.core.calendar import SHANGHAI, previous_trading_day
from brokercare.demo.brokerage import generate_brokerage
from brokercare.demo.market_days import modelled_days
from brokercare.engagement import service
from brokercare.market.models import DailyBar, Instrument
from brokercare.market.service import load_daily_bars

AS_OF = date(2026, 11, 27)  # a Friday
DAY = modelled_days(AS_OF)[-1]
#: A real close loaded before generating: the demo must keep it, not model over it.
REAL = {"symbol": "600519.SH", "day": DAY, "open": 1399.0, "high": 1412.0, "low": 1390.0, "close": 1408.88,
        "volume": 2.5e6, "amount": None}


@pytest.fixture
def demo(engine, session):
    with engine.begin() as conn:
        load_daily_bars(conn, [REAL])
    generate_brokerage(engine, customers=150, seed=23, as_of=AS_OF, workers=1, run_domain_hooks=False)
    return engine


def _independent_pnl(session) -> dict[int, Decimal]:
    """Per customer, in exact decimals from the raw rows: closing holdings at the day's close, less
    the morning's holdings (closing ones undone by the day's trades) at the previous close, less
    the cash the day's trades took, fees included."""
    prev_day = previous_trading_day(DAY)
    close = {(b.symbol, b.day): b.close for b in session.scalars(select(DailyBar).where(DailyBar.day.in_([DAY, prev_day])))}
    owner = dict(session.execute(select(Account.id, Account.customer_id)).all())
    now, morning = defaultdict(Decimal), defaultdict(Decimal)
    for p in session.scalars(select(Position)):
        now[(owner[p.account_id], p.symbol)] += p.quantity
        morning[(owner[p.account_id], p.symbol)] += p.quantity
    start = datetime.combine(DAY, time(0), tzinfo=SHANGHAI)
    cash_out = defaultdict(Decimal)
    for t in session.scalars(select(Trade).where(Trade.traded_at >= start, Trade.traded_at < start + timedelta(days=1))):
        sign = 1 if t.side == "buy" else -1
        morning[(owner[t.account_id], t.symbol)] -= sign * t.quantity
        cash_out[owner[t.account_id]] += sign * t.amount + t.commission + t.stamp_duty + t.transfer_fee
    pnl = defaultdict(Decimal)
    for (cid, symbol), q in now.items():
        pnl[cid] += q * close[(symbol, DAY)]
    for (cid, symbol), q in morning.items():
        pnl[cid] -= q * close[(symbol, prev_day)]
    for cid, out in cash_out.items():
        pnl[cid] -= out
    return pnl


def test_each_holding_moves_by_its_own_close_and_money_funds_stay_put(demo, session):
    frames = service.build(session.connection(), DAY, lo=1, hi=10_000)
    lines = frames.lines.filter(frames.lines["quantity"] > 0)
    kinds = {i.symbol: (i.kind, i.board) for i in session.scalars(select(Instrument))}
    stocks = [round(c, 4) for s, c in zip(lines["symbol"], lines["day_change"], strict=True) if kinds[s][0] == "stock"]
    money = [c for s, c in zip(lines["symbol"], lines["day_change"], strict=True)
             if kinds[s] == ("fund", "money")]
    assert len(stocks) > 100 and len(set(stocks)) > len(stocks) // 3  # shares move differently
    assert sum(c > 0 for c in stocks) > 10 and sum(c < 0 for c in stocks) > 10
    assert max(abs(c) for c in stocks) <= 0.2 + 1e-9  # inside the widest daily limit of a holding
    assert money and all(abs(c) < 0.0005 for c in money)
    maotai = session.get(DailyBar, ("600519.SH", DAY))
    assert float(maotai.close) == REAL["close"]  # the loaded real bar is kept


def test_every_customers_pnl_equals_the_trades_positions_and_closes(demo, session):
    frames = service.build(session.connection(), DAY, lo=1, hi=10_000)
    expected = _independent_pnl(session)
    got = dict(zip(frames.summary["customer_id"], frames.summary["day_pnl"], strict=True))
    assert len(got) == 150 and sum(1 for v in got.values() if abs(v) > 1) > 50
    for cid, pnl in got.items():
        assert pnl == pytest.approx(float(expected.get(cid, Decimal(0))), abs=0.01), cid
