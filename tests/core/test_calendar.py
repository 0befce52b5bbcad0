"""The trading calendar must agree with the days the exchanges actually traded."""

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brokercare.cli import app
from brokercare.core import calendar as cal
from brokercare.core.bulkimport import ImportRejected

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


# --- the calendar as data a broker loads --------------------------------------------------------

# Shaped like the exchanges' notice for 2027 (published each December; the dates here follow the
# State Council's usual pattern and stand in for it): Spring Festival 2027 falls on Saturday 6 Feb.
NOTICE_2027 = """date,exchanges,name
2027-01-01,上交所、深交所、北交所,元旦
2027-02-08,SH;SZ;BJ,春节
2027-02-09,SH;SZ;BJ,春节
2027-02-10,SH;SZ;BJ,春节
2027-02-11,SH;SZ;BJ,春节
2027-02-12,SH;SZ;BJ,春节
2027-04-05,SH;SZ;BJ,清明节
2027-05-03,,劳动节
2027-05-04,,劳动节
2027-05-05,,劳动节
2027-06-09,,端午节
2027-09-15,,中秋节
2027-10-01,,国庆节
2027-10-04,,国庆节
2027-10-05,,国庆节
2027-10-06,,国庆节
2027-10-07,,国庆节
"""


def _load(engine, tmp_path, text, name="notice.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return cal.load_notice(engine, path)


def test_a_date_in_a_year_without_a_notice_is_provisional(engine):
    assert cal.covered_until() == date(2026, 12, 31)
    assert not cal.is_provisional(date(2026, 10, 8))
    # Spring Festival 2027 counts as trading days until the 2027 notice is loaded: flagged.
    assert cal.is_trading_day(date(2027, 2, 8)) and cal.is_provisional(date(2027, 2, 8))
    assert cal.provisional_between(date(2026, 12, 28), cal.add_trading_days(date(2026, 12, 28), 5))
    assert not cal.provisional_between(date(2026, 9, 30), date(2026, 10, 9))
    cover = cal.coverage(date(2026, 12, 5))
    assert cover.days_left == 26 and "load the 2027 holiday notice" in cover.warning
    assert cal.coverage(date(2026, 11, 30)).warning is None  # 31 days ahead: not yet
    assert "ended on 2026-12-31" in cal.coverage(date(2027, 1, 4)).warning


def test_loading_the_2027_notice_removes_the_provisional_flag(engine, tmp_path):
    report = _load(engine, tmp_path, NOTICE_2027)
    assert (report.inserted, report.rejected) == (17, 0)
    assert not cal.is_provisional(date(2027, 2, 8))
    assert not cal.is_trading_day(date(2027, 2, 8))
    assert cal.next_trading_day(date(2027, 2, 5)) == date(2027, 2, 15)
    assert cal.covered_until() == date(2027, 12, 31)
    assert cal.coverage(date(2026, 12, 5)).warning is None
    # the shipped years are still there: the load added a year, it did not replace the calendar
    assert not cal.is_trading_day(date(2026, 10, 1))
    assert cal.coverage().source == "database"
    again = _load(engine, tmp_path, NOTICE_2027)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 17)


def test_a_corrected_notice_updates_only_the_changed_day(engine, tmp_path):
    _load(engine, tmp_path, NOTICE_2027)
    fixed = NOTICE_2027.replace("2027-06-09,,端午节", "2027-06-09,,端午节（调整）")
    report = _load(engine, tmp_path, fixed)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 16)
    assert cal.holidays()[date(2027, 6, 9)] == "端午节（调整）"


def test_a_notice_with_bad_rows_loads_nothing_and_names_the_rows(engine, tmp_path):
    bad = NOTICE_2027 + "2027-13-01,SH,错误日期\n2027-10-08,HKEX,国庆节\n2027-10-01,,国庆节\n"
    with pytest.raises(ImportRejected) as err:
        _load(engine, tmp_path, bad)
    reasons = {e.row: e.reason for e in err.value.report.errors}
    assert "is not a date" in reasons[19]
    assert "'HKEX' is not an exchange" in reasons[20]
    assert "duplicate date 2027-10-01 (first at row 14)" in reasons[21]
    assert cal.is_provisional(date(2027, 2, 8)) and cal.is_trading_day(date(2027, 2, 8))


def test_load_calendar_command(engine, tmp_path):
    path = tmp_path / "2027年休市安排.csv"
    path.write_bytes(NOTICE_2027.encode("gb18030"))  # back-office exports are often GBK
    result = CliRunner().invoke(app, ["market", "load-calendar", str(path)])
    assert result.exit_code == 0, result.output
    assert "17 closed days added" in result.output and "2027-12-31" in " ".join(result.output.split())
    broken = tmp_path / "broken.csv"
    broken.write_text("date,exchanges,name\n2028-01-03,SH,\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["market", "load-calendar", str(broken)])
    assert result.exit_code == 1 and "row 2: name is missing" in result.output
    assert cal.is_provisional(date(2028, 1, 3))
