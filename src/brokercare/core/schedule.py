"""The schedule of the day's jobs, as data (``data/schedule.yaml``), and its trigger.

Each entry names a job a domain declares in its ``jobs.py`` and says when it is due, in Beijing
time on the exchange calendar: at fixed times (``at``) or every N minutes within a window
(``every``/``from``/``until``), on trading days, every day, or the first/last trading day of a
week or month (``days``), optionally only in some months. :class:`CalendarTrigger` turns that into
an APScheduler trigger: APScheduler's ``CronTrigger`` computes the clock times, the exchange
calendar decides the days.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path

import yaml
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from brokercare.core import calendar
from brokercare.core.calendar import SHANGHAI

PHASES = ("pre_open", "intraday", "post_close", "weekly", "monthly")
DAY_RULES = {
    "trading": "trading days",
    "every_day": "every day",
    "first_trading_day_of_week": "first trading day of the week",
    "first_trading_day_of_month": "first trading day of the month",
    "last_trading_day_of_month": "last trading day of the month",
}
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_FIELDS = {"job", "at", "every", "from", "until", "days", "months", "catch_up"}
#: How many days ahead a trigger looks for an allowed day before giving up (two years).
_HORIZON_DAYS = 800


class ScheduleError(ValueError):
    """The schedule file is wrong; the message names the entry."""


def _clock(value: object, where: str) -> time:
    m = _CLOCK.fullmatch(str(value).strip())
    if m is None:
        raise ScheduleError(f"{where}: {value!r} is not a time of day (HH:MM or HH:MM:SS)")
    return time(int(m[1]), int(m[2]), int(m[3] or 0))


def day_allowed(rule: str, day: date) -> bool:
    """Whether ``rule`` (a key of :data:`DAY_RULES`) lets a job run on ``day``."""
    if rule == "every_day":
        return True
    if not calendar.is_trading_day(day):
        return False
    if rule == "first_trading_day_of_week":
        return not calendar.trading_days(day - timedelta(days=day.weekday()), day - timedelta(days=1))
    if rule == "first_trading_day_of_month":
        return not calendar.trading_days(day.replace(day=1), day - timedelta(days=1))
    if rule == "last_trading_day_of_month":
        return calendar.next_trading_day(day).month != day.month
    return True


class CalendarTrigger(BaseTrigger):
    """Fires at the cron times of the allowed days (and inside ``window``, when given)."""

    def __init__(self, crons: list[CronTrigger], days: str = "trading",
                 months: frozenset[int] | None = None, window: tuple[time, time] | None = None):
        self.crons, self.days, self.months, self.window = crons, days, months, window

    def _allowed(self, day: date) -> bool:
        return (self.months is None or day.month in self.months) and day_allowed(self.days, day)

    def next_due(self, after: datetime) -> datetime | None:
        """The first due time at or after ``after``."""
        t = after.astimezone(SHANGHAI)
        limit = t + timedelta(days=_HORIZON_DAYS)
        while t < limit:
            found = [f for c in self.crons if (f := c.get_next_fire_time(None, t)) is not None]
            if not found:
                return None
            due = min(found).astimezone(SHANGHAI)
            day = due.date()
            next_day = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)
            if not self._allowed(day):
                t = next_day
            elif self.window and due.time() < self.window[0]:
                t = datetime.combine(day, self.window[0], SHANGHAI)
            elif self.window and due.time() > self.window[1]:
                t = next_day
            else:
                return due
        return None

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is None:
            return self.next_due(now)
        # as CronTrigger: the first due time after the previous one, even if that is in the past
        # (APScheduler then coalesces the missed ones into one run)
        after = previous_fire_time + timedelta(microseconds=1)
        return self.next_due(min(now, after) if now > previous_fire_time else after)

    def due_times(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every due time in [start, end]."""
        due = self.next_due(start)
        while due is not None and due <= end:
            yield due
            due = self.next_due(due + timedelta(microseconds=1))

    def __str__(self) -> str:
        return f"calendar[{self.days}]"


@dataclass(frozen=True)
class Entry:
    job: str
    phase: str
    trigger: CalendarTrigger
    catch_up: bool
    when: str  # for people: "trading days 15:30", "every 5 min 00:00–23:59, every day"

    @property
    def name(self) -> str:
        return self.job


@dataclass(frozen=True)
class Schedule:
    entries: tuple[Entry, ...]
    source: str

    def entry(self, job: str) -> Entry | None:
        return next((e for e in self.entries if e.job == job), None)

    def unknown_jobs(self, known: set[str]) -> list[str]:
        return [e.job for e in self.entries if e.job not in known]


def _entry(raw: dict, phase: str, where: str) -> Entry:
    if not isinstance(raw, dict) or not isinstance(raw.get("job"), str):
        raise ScheduleError(f"{where}: each entry needs `job: <domain>.<name>`")
    extra = set(raw) - _FIELDS
    if extra:
        raise ScheduleError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    days = raw.get("days", "trading")
    if days not in DAY_RULES:
        raise ScheduleError(f"{where}: days must be one of {', '.join(DAY_RULES)}, not {days!r}")
    months = raw.get("months")
    if months is not None:
        if not isinstance(months, list) or not all(isinstance(m, int) and 1 <= m <= 12 for m in months):
            raise ScheduleError(f"{where}: months must be a list of 1–12")
        months = frozenset(months)
    if ("at" in raw) == ("every" in raw):
        raise ScheduleError(f"{where}: give either `at` (times of day) or `every` (minutes)")
    window = None
    if "at" in raw:
        times = raw["at"] if isinstance(raw["at"], list) else [raw["at"]]
        clocks = sorted(_clock(t, where) for t in times)
        crons = [CronTrigger(hour=c.hour, minute=c.minute, second=c.second, timezone=SHANGHAI)
                 for c in clocks]
        when = ", ".join(c.strftime("%H:%M:%S" if c.second else "%H:%M") for c in clocks)
    else:
        every = raw["every"]
        if not isinstance(every, int) or not 1 <= every <= 59:
            raise ScheduleError(f"{where}: every is a whole number of minutes, 1–59")
        window = (_clock(raw.get("from", "00:00"), where), _clock(raw.get("until", "23:59:59"), where))
        crons = [CronTrigger(minute=f"*/{every}", second=0, timezone=SHANGHAI)]
        when = f"every {every} min {window[0]:%H:%M}–{window[1]:%H:%M}"
    catch_up = raw.get("catch_up", "at" in raw)
    if not isinstance(catch_up, bool):
        raise ScheduleError(f"{where}: catch_up is true or false")
    month_note = f" in months {','.join(map(str, sorted(months)))}" if months else ""
    return Entry(raw["job"], phase, CalendarTrigger(crons, days, months, window), catch_up,
                 f"{DAY_RULES[days]}{month_note} {when}")


def parse(content: str, source: str) -> Schedule:
    try:
        data = yaml.safe_load(content) or {}
    except yaml.YAMLError as exc:
        raise ScheduleError(f"{source}: not YAML: {exc}") from None
    if not isinstance(data, dict) or set(data) - set(PHASES):
        raise ScheduleError(f"{source}: top-level keys are the phases {', '.join(PHASES)}")
    entries: list[Entry] = []
    for phase in PHASES:
        for i, raw in enumerate(data.get(phase) or []):
            entries.append(_entry(raw, phase, f"{source}: {phase}[{i}]"))
    seen: set[str] = set()
    for e in entries:
        if e.job in seen:
            raise ScheduleError(f"{source}: {e.job} is scheduled twice (list its times in one `at`)")
        seen.add(e.job)
    return Schedule(tuple(entries), source)


def load_schedule(path: Path | None = None) -> Schedule:
    """The schedule at ``path``, else the shipped ``core/data/schedule.yaml``."""
    if path is not None:
        if not path.exists():
            raise ScheduleError(f"schedule file not found: {path}")
        return parse(path.read_text("utf-8"), str(path))
    shipped = resources.files("brokercare.core").joinpath("data/schedule.yaml")
    return parse(shipped.read_text("utf-8"), "core/data/schedule.yaml")
