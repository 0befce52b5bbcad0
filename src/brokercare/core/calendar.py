"""The A-share trading calendar, shared by SLA clocks, settlement, IPO dates and monitoring.

Holidays are data (``data/exchange_holidays.csv``); weekends are always closed. Years outside the
shipped range fall back to weekdays only and say so through :func:`covered_years`.
"""

from __future__ import annotations

import csv
from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Continuous-trading sessions (Beijing time) of SSE and SZSE, closing call auction included.
SESSIONS: tuple[tuple[time, time], ...] = ((time(9, 30), time(11, 30)), (time(13, 0), time(15, 0)))


@lru_cache
def holidays() -> dict[date, str]:
    text = resources.files("brokercare.core").joinpath("data/exchange_holidays.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {date.fromisoformat(r["date"]): r["holiday"] for r in rows}


def covered_years() -> set[int]:
    return {d.year for d in holidays()}


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays()


@lru_cache(maxsize=64)
def _trading_days_of_year(year: int) -> tuple[date, ...]:
    d, out = date(year, 1, 1), []
    while d.year == year:
        if is_trading_day(d):
            out.append(d)
        d += timedelta(days=1)
    return tuple(out)


def trading_days(start: date, end: date) -> list[date]:
    """Trading days in the closed interval [start, end]."""
    out: list[date] = []
    for year in range(start.year, end.year + 1):
        days = _trading_days_of_year(year)
        out.extend(days[bisect_left(days, start) : bisect_right(days, end)])
    return out


def add_trading_days(day: date, n: int) -> date:
    """The trading day ``n`` trading days after ``day`` (before it when ``n`` is negative).

    ``add_trading_days(d, 0)`` is ``d`` itself if it is a trading day, else the next one.
    """
    step = 1 if n >= 0 else -1
    d = day
    if n == 0:
        while not is_trading_day(d):
            d += timedelta(days=1)
        return d
    remaining = abs(n)
    while remaining:
        d += timedelta(days=step)
        if is_trading_day(d):
            remaining -= 1
    return d


def previous_trading_day(day: date) -> date:
    return add_trading_days(day, -1)


def next_trading_day(day: date) -> date:
    return add_trading_days(day, 1)


def is_trading_time(moment: datetime) -> bool:
    local = moment.astimezone(SHANGHAI)
    if not is_trading_day(local.date()):
        return False
    t = local.time()
    return any(start <= t < end for start, end in SESSIONS)


def add_working_hours(start: datetime, hours: float, *, day_start: time = time(9, 0),
                      day_end: time = time(17, 0)) -> datetime:
    """Add service hours counted only on trading days between ``day_start`` and ``day_end``.

    Used for SLA deadlines such as "feedback within 3 working days".
    """
    remaining = timedelta(hours=hours)
    cur = start.astimezone(SHANGHAI)
    while True:
        if not is_trading_day(cur.date()) or cur.time() >= day_end:
            nxt = add_trading_days(cur.date() + timedelta(days=1), 0)
            cur = datetime.combine(nxt, day_start, SHANGHAI)
            continue
        if cur.time() < day_start:
            cur = datetime.combine(cur.date(), day_start, SHANGHAI)
        end_of_day = datetime.combine(cur.date(), day_end, SHANGHAI)
        available = end_of_day - cur
        if remaining <= available:
            return (cur + remaining).astimezone(start.tzinfo or SHANGHAI)
        remaining -= available
        cur = end_of_day
