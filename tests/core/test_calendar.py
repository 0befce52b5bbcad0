"""The trading calendar must agree with the days the exchanges actually traded."""

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from brokercare.core import calendar as cal

MARKET = Path(__file__).resolve().parents[3] / "shared" / "data" / "market"


def test_spring_festival_2025_is_closed_and_trading_resumes_on_feb_5():
    assert not cal.is_trading_day(date(2025, 1, 28))
    assert not cal.is_trading_day(date(2025, 2, 4))
    assert cal.next_trading_day(date(2025, 1, 27)) == date(2025, 2, 5)


def test_t_plus_2_skips_weekend_and_national_day():
    # IPO bought on Monday 2025-09-29: T+2 falls after the National Day week.
    assert cal.add_trading_days(date(2025, 9, 29), 2) == date(2025, 10, 9)


def test_calendar_matches_shanghai_composite_history():
    path = MARKET / "a_share_index_daily" / "sh000001.csv"
    if not path.exists():
        pytest.skip("shared market data not beside the checkout")
    traded = {r["date"] for r in csv.DictReader(path.open(encoding="utf-8"))}
    d = date(2024, 1, 1)
    while d <= date(2026, 7, 31):
        assert cal.is_trading_day(d) == (d.isoformat() in traded), d
        d += timedelta(days=1)


def test_working_hours_sla_skips_holidays():
    start = datetime(2025, 9, 30, 16, 0, tzinfo=cal.SHANGHAI)  # eve of National Day
    due = cal.add_working_hours(start, 3 * 8)
    assert due.astimezone(cal.SHANGHAI).date() == date(2025, 10, 13)
