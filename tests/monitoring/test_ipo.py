"""IPO calendar: quota from 20-day average market value, reminders, payment and unpaid-win bans."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.monitoring.brokerage import add_account, add_customer, add_instruments, hold

from brokercare.core.calendar import add_trading_days, trading_days
from brokercare.core.errors import Conflict, ValidationFailed
from brokercare.monitoring.ipo import (
    apply,
    daily_reminders,
    ipo_quota,
    quota_window,
    record_lottery,
    record_market_values,
    settle_payments,
)
from brokercare.monitoring.models import IpoIssue, MarketValueDaily
from brokercare.outbox.models import OutboxMessage

T = date(2026, 6, 16)  # a Tuesday


def issue(session, code, name, exchange, board, day, price="18.50", cap=15000):
    i = IpoIssue(
        code=code,
        symbol=f"{code}.{exchange}",
        name=name,
        exchange=exchange,
        board=board,
        subscribe_on=day,
        price=Decimal(price),
        max_shares=cap,
        results_on=add_trading_days(day, 2),
        payment_on=add_trading_days(day, 2),
        source="test",
    )
    session.add(i)
    session.flush()
    return i


def values(session, cid, exchange, per_day, days):
    for d in days:
        session.add(
            MarketValueDaily(customer_id=cid, day=d, exchange=exchange, value=Decimal(per_day))
        )
    session.flush()


def test_window_is_the_20_trading_days_ending_t_minus_2():
    start, end = quota_window(T)
    assert end == date(2026, 6, 12)  # Friday: T-2 trading days from Tuesday
    assert len(trading_days(start, end)) == 20


def test_quota_from_average_market_value(session):
    c = add_customer(session, 1)
    start, end = quota_window(T)
    days = trading_days(start, end)
    values(session, c.id, "SH", "25000", days)  # 25,000 every day
    values(session, c.id, "SZ", "30000", days[:10])  # 30,000 for half the window: average 15,000
    values(session, c.id, "SZ", "999999", [add_trading_days(T, -1)])  # T-1 does not count
    issue(session, "732981", "广钢气体", "SH", "star", T)
    q = ipo_quota(session, c.id, T)
    assert q["average_market_value"] == {"SH": 25000.0, "SZ": 15000.0}
    assert q["quota"] == {"SH_main": 2000, "SH_star": 2500, "SZ": 1500}
    assert q["issues"][0]["can_apply"] == 2500
    assert "沪市主板可申购 2,000 股" in q["message"]


def test_below_ten_thousand_no_quota(session):
    c = add_customer(session, 1)
    start, end = quota_window(T)
    values(session, c.id, "SZ", "9999", trading_days(start, end))
    q = ipo_quota(session, c.id, T)
    assert q["quota"]["SZ"] == 0 and "1 万元" in q["message"]


def test_apply_rules(session):
    c = add_customer(session, 1)
    start, end = quota_window(T)
    values(session, c.id, "SZ", "12000", trading_days(start, end))
    issue(session, "301589", "诺瓦星云", "SZ", "chinext", T, cap=9500)
    with pytest.raises(ValidationFailed, match="500 股的整数倍"):
        apply(session, c.id, "301589", 700, T)
    with pytest.raises(ValidationFailed, match="上限 1,000 股"):
        apply(session, c.id, "301589", 1500, T)
    with pytest.raises(ValidationFailed, match="申购日"):
        apply(session, c.id, "301589", 500, add_trading_days(T, 1))
    apply(session, c.id, "301589", 1000, T)
    with pytest.raises(Conflict):
        apply(session, c.id, "301589", 500, T)


def test_reminders_winning_payment_and_three_strikes(session):
    add_instruments(session)
    c = add_customer(session, 1)
    acct = add_account(session, c, cash="1000")
    hold(session, acct, "600036.SH", 1000, "30.00")  # 35,000 at the reference price
    for d in trading_days(*quota_window(T)):
        record_market_values(session, d)
    rows = session.scalars(select(MarketValueDaily)).all()
    assert {r.value for r in rows} == {Decimal("35000.00")} and len(rows) == 20
    issue(session, "780001", "测试新股", "SH", "main", T, price="20.00")
    counts = daily_reminders(session, T)
    assert counts["subscription"] == 1
    assert daily_reminders(session, T)["subscription"] == 0  # idempotent
    apply(session, c.id, "780001", 3000, T)
    record_lottery(session, "780001", {c.id: 1000})  # 1,000 shares x 20 = 20,000 due, cash 1,000
    t2 = add_trading_days(T, 2)
    counts = daily_reminders(session, t2)
    assert counts == {"subscription": 0, "winning": 1, "payment": 1}
    pay = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "ipo_payment"))
    assert "16:00" in pay.body and "1.90万元" in pay.body and pay.urgent
    assert settle_payments(session, t2) == {"paid": 0, "abandoned": 1}
    # two more unpaid wins within 12 months -> banned for 6 months
    day = t2
    for k in range(2):
        day = add_trading_days(day, 30)
        for d in trading_days(*quota_window(day)):
            record_market_values(session, d)
        issue(session, f"78000{k + 2}", f"测试新股{k + 2}", "SH", "main", day, price="20.00")
        apply(session, c.id, f"78000{k + 2}", 1000, day)
        record_lottery(session, f"78000{k + 2}", {c.id: 1000})
        settle_payments(session, add_trading_days(day, 2))
    last = add_trading_days(day, 2)
    notes = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "ipo_abandoned").order_by(OutboxMessage.id)
    ).all()
    assert "再有 2 次" in notes[0].body and "再有 1 次" in notes[1].body
    assert "打新资格受限" in notes[2].subject
    q = ipo_quota(session, c.id, add_trading_days(last, 5))
    assert q["banned_until"] is not None and q["quota"]["SH_main"] == 0
    assert "不能参与新股" in q["message"]
