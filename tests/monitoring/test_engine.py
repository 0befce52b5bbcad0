"""The vectorised evaluator on a real (small) book loaded from the database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest
from scipy.stats import norm
from sqlalchemy import select
from tests.monitoring.brokerage import (
    add_account,
    add_customer,
    add_instruments,
    hold,
    margin,
    small_brokerage,
)

from brokercare.accounts.models import MarginShort
from brokercare.core.errors import ValidationFailed
from brokercare.monitoring.engine import RULE_NAMES, Evaluator, Snapshot, trading_minute
from brokercare.monitoring.forecast import session_fraction
from brokercare.monitoring.models import Alert, MarginCall
from brokercare.monitoring.service import (
    load_book,
    load_universe,
    market_info,
    record_findings,
    set_preferences,
)
from brokercare.outbox.models import OutboxMessage

DAY = date(2026, 6, 16)  # a Tuesday, a trading day


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 6, 16, hh - 8, mm, ss, tzinfo=UTC)  # Beijing time -> UTC


def setup(session):
    small_brokerage(session)
    universe = load_universe(session)
    book = load_book(session, universe=universe)
    info = market_info(universe, DAY)
    return universe, book, info


def prices_of(universe, **changes):
    p = np.array([float(u.last_price) for u in universe])
    sym = [u.symbol for u in universe]
    for code, factor in changes.items():
        p[sym.index(code.replace("_", "."))] *= factor
    return np.round(p, 2)


def test_limit_prices_follow_dated_rules(session):
    universe, book, info = setup(session)
    sym = [u.symbol for u in universe]
    up = dict(zip(sym, info.limit_up, strict=True))
    assert up["600519.SH"] == 1650.00  # main board 10 %
    assert up["300750.SZ"] == 240.00  # ChiNext 20 %
    assert up["688981.SH"] == 60.00  # STAR 20 %
    assert up["600137.SH"] == 21.00  # ST on the main board: still 5 % on 2026-06-16
    new = market_info(universe, date(2026, 7, 6))
    assert dict(zip(sym, new.limit_up, strict=True))["600137.SH"] == 22.00  # 10 % from 2026-07-06


def test_move_within_window_alerts_every_holder_once(session):
    universe, book, info = setup(session)
    ev = Evaluator(book, info)
    base = prices_of(universe)
    vol = np.zeros(len(universe))
    ev.evaluate(Snapshot(at(10, 0), base, vol))
    # 贵州茅台 slides 5.3 % over 8 minutes
    f = None
    for minute, factor in ((3, 0.98), (6, 0.96), (8, 0.947)):
        f = ev.evaluate(Snapshot(at(10, minute), prices_of(universe, **{"600519_SH": factor}), vol))
    holders = {
        int(a)
        for a, s in zip(book.pos_account, book.pos_symbol, strict=True)
        if universe[s].symbol == "600519.SH"
    }
    fired = {
        int(book.pos_account[p])
        for p, r in zip(f.positions, f.rules, strict=True)
        if RULE_NAMES[r] == "move_down"
    }
    assert fired == holders and holders
    assert np.allclose(f.change[f.rules == 1], 0.947 - 1, atol=1e-3)
    # still down 5 % a minute later: the same condition does not alert again in its window
    again = ev.evaluate(Snapshot(at(10, 9), prices_of(universe, **{"600519_SH": 0.946}), vol))
    assert len(again.positions) == 0
    # after the window has passed and a new slide happens, it alerts again
    ev.evaluate(Snapshot(at(10, 25), prices_of(universe, **{"600519_SH": 0.946}), vol))
    later = ev.evaluate(Snapshot(at(10, 30), prices_of(universe, **{"600519_SH": 0.89}), vol))
    assert {int(book.pos_account[p]) for p in later.positions} == holders


def test_customer_rule_overrides_default(session):
    small_brokerage(session)
    universe = load_universe(session)
    first = load_book(session, universe=universe)
    cid = int(first.customer_ids[0])
    set_preferences(session, cid, move_pct=0.02, window_min=5)
    book = load_book(session, universe=universe)
    ev = Evaluator(book, market_info(universe, DAY))
    vol = np.zeros(len(universe))
    ev.evaluate(Snapshot(at(10, 0), prices_of(universe), vol))
    held = {
        universe[s].symbol for a, s in zip(book.pos_account, book.pos_symbol, strict=True) if a == 0
    }
    sym = sorted(held)[0].replace(".", "_")
    f = ev.evaluate(Snapshot(at(10, 3), prices_of(universe, **{sym: 0.975}), vol))
    customers = {int(book.customer_ids[book.pos_account[p]]) for p in f.positions}
    assert customers == {cid}  # 2.5 % only reaches the customer who asked for 2 %


def test_limit_down_and_margin_crossing_are_recorded_with_outbox(session):
    universe, book, info = setup(session)
    ev = Evaluator(book, info, forecast_threshold=0.5)
    vol = np.zeros(len(universe))
    ev.evaluate(Snapshot(at(10, 0), prices_of(universe), vol))
    # 宁德时代 falls to its ChiNext limit-down: 160.00 (-20 %)
    crash = prices_of(universe, **{"300750_SZ": 0.8})
    f = ev.evaluate(Snapshot(at(10, 1), crash, vol))
    rules = {RULE_NAMES[r] for r in f.rules}
    assert {"limit_down", "move_down"} <= rules
    assert len(f.crossings) == len(book.margin_rows)  # 180,000 / 150,000 = 120 % < 130 %
    rec = record_findings(session, book, f, ev.last_price)
    session.commit()
    margin_alerts = session.scalars(select(Alert).where(Alert.rule == "margin_liquidation")).all()
    assert len(margin_alerts) == len(book.margin_rows)
    a = margin_alerts[0]
    assert "平仓线" in a.body and "6 月 18 日" in a.body  # T+2 trading days from Tuesday 16 June
    calls = session.scalars(select(MarginCall)).all()
    assert {c.deadline for c in calls} == {date(2026, 6, 18)}
    limit_alert = session.scalars(select(Alert).where(Alert.rule == "limit_down")).first()
    assert "宁德时代（300750）触及跌停价 160.00 元" in limit_alert.body
    notes = session.scalars(select(OutboxMessage).where(OutboxMessage.origin == "monitoring")).all()
    assert rec.notifications == len(notes) > 0
    assert all(n.state == "pending" for n in notes)
    # urgent margin notices are separate, every other alert of a customer is one digest
    urgent = [n for n in notes if n.urgent]
    assert len(urgent) == len(book.margin_rows)
    # the same findings recorded again write nothing (deterministic keys)
    again = record_findings(session, book, f, ev.last_price)
    assert again.alerts == []


def test_forecast_warns_before_the_line(session):
    universe, book, info = setup(session)
    ev = Evaluator(book, info, forecast_threshold=0.2)
    vol = np.zeros(len(universe))
    # stock 192,000 + cash 20,000 over debt 150,000 = 141.3 %: 1 % of stock value above 140 %
    f = ev.evaluate(Snapshot(at(10, 0), prices_of(universe, **{"300750_SZ": 0.96}), vol))
    assert len(f.crossings) == 0
    probs = dict(zip(f.forecast_rows.tolist(), f.forecast_prob.tolist(), strict=True))
    assert sorted(probs) == list(range(len(book.margin_rows)))
    k = [u.symbol for u in universe].index("300750.SZ")
    # 10:00 is trading minute 30: the next hour's share of the session's variance, from the curve
    share = session_fraction(info.variance_curve, 30, 90)
    sigma_hour = info.model.total_vol[k] * np.sqrt(share)

    expected = 2 * norm.cdf(-np.log(192_000 / 190_000) / sigma_hour)
    assert all(abs(p - expected) < 1e-9 for p in probs.values())
    assert 0.2 <= expected < 1
    assert set(f.forecast_line.tolist()) == {1}
    # not repeated on the next snapshot while the risk stays high
    f2 = ev.evaluate(Snapshot(at(10, 1), prices_of(universe, **{"300750_SZ": 0.96}), vol))
    assert len(f2.forecast_rows) == 0


def test_forecast_follows_the_time_of_day(session):
    """The same account, the same prices: an hour after the open carries more of the session's
    variance than the last hour, so the crossing probability is higher at 09:35 than at 14:00."""
    universe, book, info = setup(session)
    vol = np.zeros(len(universe))
    prices = prices_of(universe, **{"300750_SZ": 0.96})
    probs = []
    for hh, mm in ((9, 35), (14, 0)):
        ev = Evaluator(book, info, forecast_threshold=0.01)
        f = ev.evaluate(Snapshot(at(hh, mm), prices, vol))
        probs.append(float(f.forecast_prob.max()))
    assert probs[0] > probs[1] > 0


def test_volume_spike_against_20_day_average(session):
    universe, book, info = setup(session)
    ev = Evaluator(book, info)
    sym = [u.symbol for u in universe]
    k = sym.index("600519.SH")
    assert np.isfinite(info.avg_volume_20d[k])  # from the shipped real history
    vol = np.zeros(len(universe))
    vol[k] = info.avg_volume_20d[k] * 0.5  # half a normal day's volume by 10:00 (30 of 240 min)
    f = ev.evaluate(Snapshot(at(10, 0), prices_of(universe), vol))
    assert {RULE_NAMES[r] for r in f.rules} == {"volume_spike"}
    assert np.allclose(f.change, 0.5 / (30 / 240))


def test_trading_minute():
    assert trading_minute(at(9, 20)) == 0
    assert trading_minute(at(10, 0)) == 30
    assert trading_minute(at(12, 0)) == 120
    assert trading_minute(at(14, 0)) == 180
    assert trading_minute(at(15, 30)) == 240


def test_quiet_hours_defer_and_cap_suppresses(session):
    universe, book, info = setup(session)
    cid = int(book.customer_ids[0])
    set_preferences(
        session, cid, quiet_start="09:30", quiet_end="11:30", hourly_cap=1, channels=["app", "sms"]
    )
    ev = Evaluator(book, info)
    vol = np.zeros(len(universe))
    held = [
        universe[s].symbol for a, s in zip(book.pos_account, book.pos_symbol, strict=True) if a == 0
    ]
    ev.evaluate(Snapshot(at(10, 0), prices_of(universe), vol))
    f = ev.evaluate(
        Snapshot(at(10, 5), prices_of(universe, **{held[0].replace(".", "_"): 0.93}), vol)
    )
    record_findings(session, book, f, ev.last_price)
    ev.evaluate(Snapshot(at(10, 25), prices_of(universe, **{held[0].replace(".", "_"): 0.93}), vol))
    f = ev.evaluate(
        Snapshot(
            at(10, 30),
            prices_of(
                universe, **{held[0].replace(".", "_"): 0.93, held[1].replace(".", "_"): 0.93}
            ),
            vol,
        )
    )
    record_findings(session, book, f, ev.last_price)
    mine = session.scalars(
        select(OutboxMessage).where(OutboxMessage.customer_id == cid).order_by(OutboxMessage.id)
    ).all()
    assert {n.channel for n in mine} == {"app", "sms"}
    assert len({n.origin_ref for n in mine}) == 1  # the second within the hour is over the cap
    assert all(n.next_attempt_at == at(11, 30) for n in mine)  # deferred to the end of quiet hours
    over_cap = session.scalars(select(Alert).where(Alert.customer_id == cid,
                                                   Alert.fired_at == at(10, 30))).all()
    assert over_cap and all(a.data.get("notice") == "over_hourly_cap" for a in over_cap)


@pytest.mark.parametrize(
    "bad", [{"move_pct": 0.5}, {"window_min": 0}, {"channels": ["fax"]}, {"quiet_start": "22:00"}]
)
def test_bad_preferences_are_refused_in_chinese(session, bad):
    small_brokerage(session, 2)
    cid = load_book(session).customer_ids[0]
    with pytest.raises(ValidationFailed) as err:
        set_preferences(session, int(cid), **bad)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.value.detail)


def test_securities_lending_debt_is_repriced_on_every_snapshot(session):
    """融券: the liability is shares owed x current price, so a rise in the shorted stock lowers
    the maintenance collateral ratio; a contract with only a marked lending debt keeps it fixed."""

    add_instruments(session)
    shorter = add_account(session, add_customer(session, 1), "margin", cash="430000")
    hold(session, shorter, "300750.SZ", 1000, "180.00")  # 200,000 long
    contract = margin(session, shorter, "0")
    contract.lending_debt = Decimal("420000")  # 12,000 招商银行 sold short at 35.00
    session.add(MarginShort(contract_id=contract.id, symbol="600036.SH", quantity=Decimal(12000)))
    marked = add_account(session, add_customer(session, 2), "margin", cash="430000")
    hold(session, marked, "300750.SZ", 1000, "180.00")
    margin(session, marked, "0").lending_debt = Decimal("420000")  # no shares on record
    session.commit()

    universe = load_universe(session)
    book = load_book(session, universe=universe)
    assert len(book.margin_rows) == 2 and book.margin_shorts.nnz == 1
    ev = Evaluator(book, market_info(universe, DAY), forecast_threshold=2.0)
    vol = np.zeros(len(universe))
    f = ev.evaluate(Snapshot(at(10, 0), prices_of(universe), vol))
    # 630,000 / 420,000 = 150 % for both: above the 140 % warning line
    assert f.liabilities.tolist() == [420000.0, 420000.0]
    assert f.ratio == pytest.approx([1.5, 1.5]) and len(f.crossings) == 0
    # 招商银行 +10 %: owed 12,000 x 38.50 = 462,000 -> 630,000 / 462,000 = 136.4 %
    f = ev.evaluate(Snapshot(at(10, 1), prices_of(universe, **{"600036_SH": 1.1}), vol))
    assert f.liabilities.tolist() == [462000.0, 420000.0]
    assert f.ratio[0] == pytest.approx(630000 / 462000) and f.ratio[1] == pytest.approx(1.5)
    assert f.crossings.tolist() == [0]  # only the short seller crossed the warning line
    record_findings(session, book, f, ev.last_price)
    session.commit()
    alert = session.scalars(select(Alert).where(Alert.rule == "margin_warning")).one()
    assert alert.account_id == shorter.id
    assert alert.data["shortfall"] == pytest.approx(1.4 * 462000 - 630000)  # 16,800 at 140 %
    assert "136.36%" in alert.body


def test_a_window_includes_its_start_on_five_minute_bars(session):
    """"3 % within 10 minutes" on 5-minute bars: 47.03 at 09:35, 45.60 at 09:45 is −3.04 % and fires
    (the window used to start just after 09:35 and compared with the 09:40 bar only)."""
    small_brokerage(session)
    universe = load_universe(session)
    cid = int(load_book(session, universe=universe).customer_ids[0])
    set_preferences(session, cid, move_pct=0.03, window_min=10)
    book = load_book(session, universe=universe)
    held = sorted({universe[s].symbol for a, s in zip(book.pos_account, book.pos_symbol, strict=True)
                   if int(book.customer_ids[a]) == cid})[0].replace(".", "_")
    ev = Evaluator(book, market_info(universe, DAY))
    vol = np.zeros(len(universe))
    ev.evaluate(Snapshot(at(9, 35), prices_of(universe, **{held: 1.0}), vol))
    ev.evaluate(Snapshot(at(9, 40), prices_of(universe, **{held: 46.20 / 47.03}), vol))
    f = ev.evaluate(Snapshot(at(9, 45), prices_of(universe, **{held: 45.60 / 47.03}), vol))
    mine = [p for p, r in zip(f.positions, f.rules, strict=True)
            if RULE_NAMES[r] == "move_down" and int(book.customer_ids[book.pos_account[p]]) == cid]
    assert mine, "the 09:35 price is inside the 10-minute window that ends at 09:45"
