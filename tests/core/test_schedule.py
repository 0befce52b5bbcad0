"""The schedule fires on the exchange calendar: trading days only, in Beijing time."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from brokercare.core import calendar as cal
from brokercare.core.calendar import SHANGHAI
from brokercare.core.schedule import ScheduleError, load_schedule, parse
from brokercare.core.scheduler import registered_jobs

SHIPPED = load_schedule()


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), SHANGHAI)


def dues(job: str, start: date, end: date) -> list[datetime]:
    trigger = SHIPPED.entry(job).trigger
    return list(trigger.due_times(at(start, 0), at(end, 23, 59)))


def test_every_scheduled_job_is_declared_by_a_domain():
    assert SHIPPED.unknown_jobs(set(registered_jobs())) == []
    assert {e.phase for e in SHIPPED.entries} == {"pre_open", "intraday", "post_close", "weekly",
                                                   "monthly"}


def test_post_close_runs_on_trading_days_only_across_mid_autumn_and_national_day_2026(engine):
    got = dues("monitoring.ipo_market_values", date(2026, 9, 23), date(2026, 10, 12))
    # 25 Sep Mid-Autumn (Friday), 26-27 weekend, 1-7 Oct National Day, 10-11 Oct weekend (Saturday
    # 10 Oct is a make-up working day for offices, but the exchanges stay closed).
    assert [d.date() for d in got] == [date(2026, 9, 23), date(2026, 9, 24), date(2026, 9, 28),
                                       date(2026, 9, 29), date(2026, 9, 30), date(2026, 10, 8),
                                       date(2026, 10, 9), date(2026, 10, 12)]
    assert {d.time() for d in got} == {time(15, 30)}
    # APScheduler asks the trigger for the next time after the last run: the eve of the holiday
    # leads straight to the first trading day after it.
    trigger = SHIPPED.entry("monitoring.ipo_market_values").trigger
    assert trigger.get_next_fire_time(at(date(2026, 9, 30), 15, 30), at(date(2026, 9, 30), 15, 30)) \
        == at(date(2026, 10, 8), 15, 30)


def test_an_intraday_job_runs_every_minute_of_its_window_on_trading_days_only(engine):
    sessions = parse("intraday:\n  - {job: market.temperature, every: 1, from: '09:30', "
                     "until: '15:00'}\n", "test").entries[0].trigger
    got = list(sessions.due_times(at(date(2026, 10, 1), 0), at(date(2026, 10, 11), 23, 59)))
    assert sorted({d.date() for d in got}) == [date(2026, 10, 8), date(2026, 10, 9)]
    first_day = [d for d in got if d.date() == date(2026, 10, 8)]
    assert len(first_day) == 5 * 60 + 30 + 1
    assert (first_day[0], first_day[-1]) == (at(date(2026, 10, 8), 9, 30), at(date(2026, 10, 8), 15))


def test_sla_checks_and_routing_run_all_day_every_day(engine):
    # an emergency ticket's 15 minutes run on the wall clock, holiday or not
    got = dues("service.sla_check", date(2026, 10, 3), date(2026, 10, 3))
    assert len(got) == 24 * 60 and got[0] == at(date(2026, 10, 3), 0, 0)
    assert len(dues("service.close_idle_conversations", date(2026, 10, 1), date(2026, 10, 1))) == 288


def test_weekly_and_monthly_jobs_take_the_first_trading_day(engine):
    weekly = dues("core.prune_job_history", date(2026, 9, 28), date(2026, 10, 18))
    assert [d.date() for d in weekly] == [date(2026, 9, 28), date(2026, 10, 8), date(2026, 10, 12)]
    quarterly = dues("service.feedback_report", date(2026, 6, 1), date(2026, 10, 31))
    assert [d.date() for d in quarterly] == [date(2026, 7, 1), date(2026, 10, 8)]


def test_the_first_trading_day_of_2027_is_provisional_until_the_notice_is_loaded(engine, tmp_path):
    trigger = SHIPPED.entry("service.feedback_report").trigger
    before = trigger.next_due(at(date(2026, 12, 5), 12))
    # without the notice, New Year's Day counts as a trading day: the report would run on a holiday
    assert before == at(date(2027, 1, 1), 7) and cal.is_provisional(before.date())
    notice = tmp_path / "2027.csv"
    notice.write_text("date,exchanges,name\n2027-01-01,,元旦\n", encoding="utf-8")
    cal.load_notice(engine, notice)
    after = trigger.next_due(at(date(2026, 12, 5), 12))
    assert after == at(date(2027, 1, 4), 7) and not cal.is_provisional(after.date())


@pytest.mark.parametrize("text, message", [
    ("post_close:\n  - {job: a.b, at: '25:00'}\n", "post_close[0]: '25:00' is not a time of day"),
    ("post_close:\n  - {job: a.b, at: '15:30', every: 5}\n", "either `at`"),
    ("weekly:\n  - {job: a.b, at: '19:00', days: mondays}\n", "days must be one of"),
    ("monthly:\n  - {job: a.b, at: '07:00', months: [13]}\n", "months must be a list of 1–12"),
    ("post_close:\n  - {job: a.b, at: '15:30'}\n  - {job: a.b, at: '17:00'}\n", "scheduled twice"),
    ("evening:\n  - {job: a.b, at: '20:00'}\n", "top-level keys are the phases"),
    ("intraday:\n  - {job: a.b, every: 1, form: '09:30'}\n", "unknown field(s) form"),
])
def test_a_wrong_schedule_is_refused_with_the_entry_named(text, message):
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        parse(text, "ops.yaml")
