"""The A-share trading calendar, shared by SLA clocks, settlement, IPO dates, monitoring and the
schedule of the day's jobs.

Holidays are data a broker loads from the exchanges' yearly notice (``exchange_holidays`` table,
``brokercare market load-calendar``); weekends are always closed. The calendar covers the years
that have a notice loaded. A date in another year is computed as "every weekday trades" and is
**provisional**: :func:`is_provisional`, :func:`provisional_between` and :func:`coverage` say so,
and ``/health`` and the scheduler warn from :data:`WARN_DAYS` days before the coverage ends.

The holidays are read once per process and kept in memory; a load in this process refreshes them
at once, a load elsewhere within :data:`REFRESH_S`. Before the table exists (no ``db upgrade``
yet) or while it is empty, the notices shipped with BrokerCare (2024–2026) are used.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from brokercare.core import holidays as notices
from brokercare.core.bulkimport import ImportReport, run_import
from brokercare.core.database import get_engine

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Continuous-trading sessions (Beijing time) of SSE and SZSE, closing call auction included.
SESSIONS: tuple[tuple[time, time], ...] = ((time(9, 30), time(11, 30)), (time(13, 0), time(15, 0)))

#: The A-share market is closed on a day either of its two main exchanges is closed.
A_SHARE = frozenset({"SH", "SZ"})
#: Seconds before another process's load is seen here.
REFRESH_S = 300.0
#: Days before the end of the loaded calendar from which it is reported as ending.
WARN_DAYS = 30

log = logging.getLogger(__name__)


@dataclass
class _Calendar:
    holidays: dict[date, str]
    years: frozenset[int]
    source: str
    engine: Engine | None
    read_at: float
    by_year: dict[int, tuple[date, ...]] = field(default_factory=dict)


_lock = threading.Lock()
_state: _Calendar | None = None
_fallback_logged = False


def _read(engine: Engine) -> _Calendar:
    global _fallback_logged
    source = "database"
    try:
        with engine.connect() as conn:
            rows = notices.stored(conn)
    except SQLAlchemyError as exc:
        rows = []
        if not _fallback_logged:
            log.warning("exchange_holidays not readable (%s); using the shipped notices — run "
                        "`brokercare db upgrade`", type(exc).__name__)
            _fallback_logged = True
    if not rows:
        rows, source = notices.shipped(), "shipped"
    days = {h.day: h.name for h in rows if A_SHARE & set(h.exchanges.split(","))}
    return _Calendar(days, frozenset(h.day.year for h in rows), source, engine, clock.monotonic())


def _calendar() -> _Calendar:
    global _state
    engine = get_engine()
    state = _state
    if state is not None and state.engine is engine and clock.monotonic() - state.read_at < REFRESH_S:
        return state
    with _lock:
        state = _state
        if state is None or state.engine is not engine or clock.monotonic() - state.read_at >= REFRESH_S:
            state = _state = _read(engine)
    return state


def refresh() -> None:
    """Forget the holidays held in memory; the next question reads them again."""
    global _state
    with _lock:
        _state = None


def load_notice(engine: Engine, path: Path) -> ImportReport:
    """Load an exchange holiday notice file (all or nothing, idempotent; see ``core.holidays``)."""
    report = run_import(engine, notices.spec(), path)
    refresh()
    return report


def holidays() -> dict[date, str]:
    """Closed weekdays of the A-share market, with the holiday's name."""
    return _calendar().holidays


def covered_years() -> set[int]:
    return set(_calendar().years)


def is_provisional(day: date) -> bool:
    """True when no notice covers ``day``'s year: it was computed as "every weekday trades"."""
    return day.year not in _calendar().years


def provisional_between(start: date, end: date) -> bool:
    """True when a computation spanning [start, end] (either order) crossed an uncovered year."""
    years = _calendar().years
    lo, hi = sorted((start.year, end.year))
    return any(y not in years for y in range(lo, hi + 1))


def covered_until() -> date | None:
    """Last day of the calendar's unbroken run of covered years (None: nothing loaded)."""
    years = _calendar().years
    if not years:
        return None
    year = min(years)
    while year + 1 in years:
        year += 1
    return date(year, 12, 31)


@dataclass(frozen=True)
class Coverage:
    covered_until: date | None
    days_left: int | None
    source: str  # "database" or "shipped"
    warning: str | None  # an operator message when the calendar ends within WARN_DAYS days

    def as_dict(self) -> dict:
        return {"covered_until": self.covered_until.isoformat() if self.covered_until else None,
                "days_left": self.days_left, "source": self.source, "warning": self.warning}


def coverage(today: date | None = None) -> Coverage:
    """How long the loaded calendar lasts, with the warning ``/health`` and the scheduler give."""
    today = today or datetime.now(SHANGHAI).date()
    until, source = covered_until(), _calendar().source
    if until is None:
        return Coverage(None, None, source, "no exchange holidays loaded: every weekday counts as "
                        "a trading day (brokercare market load-calendar FILE)")
    left = (until - today).days
    warning = None
    if left < 0:
        warning = (f"the exchange calendar ended on {until}: dates since are provisional (every "
                   f"weekday counts as trading); load the {until.year + 1} notice with "
                   f"`brokercare market load-calendar FILE`")
    elif left <= WARN_DAYS:
        warning = (f"the exchange calendar ends on {until} ({left} days): load the "
                   f"{until.year + 1} holiday notice with `brokercare market load-calendar FILE`")
    return Coverage(until, left, source, warning)


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _calendar().holidays


def _trading_days_of_year(year: int) -> tuple[date, ...]:
    cal = _calendar()
    days = cal.by_year.get(year)
    if days is None:
        d, out = date(year, 1, 1), []
        while d.year == year:
            if d.weekday() < 5 and d not in cal.holidays:
                out.append(d)
            d += timedelta(days=1)
        days = cal.by_year[year] = tuple(out)
    return days


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
