"""Importing the IPO calendar: lot rules and dates checked as the exchanges set them, all or
nothing with row-numbered reasons, re-imports change nothing (both backends)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.imports.test_import import _snapshot, _write_csv
from typer.testing import CliRunner

from brokercare.cli import app
from brokercare.core.bulkimport import ImportRejected, run_import
from brokercare.monitoring.models import IpoIssue
from brokercare.monitoring.service import ipo_issues_spec

HEADER = ["code", "symbol", "name", "exchange", "board", "subscribe_on", "price", "max_shares",
          "results_on", "payment_on", "listing_on", "industry"]
ISSUES = [
    ["732131", "603131.SH", "上海汽配", "上交所", "主板", "2026-03-10", "13.37", "12000", "", "", "",
     "汽车配件"],
    ["787605", "688605.SH", "先锋精科", "SH", "科创板", "2026-03-10", "11.29", "5500", "2026-03-12",
     "2026-03-12", "2026-03-20", "半导体"],
    ["301589", "301589.SZ", "诺瓦星云", "深交所", "创业板", "2026-03-11", "126.89", "6000", "", "",
     "", "电器仪表"],
    ["920118", "920118.BJ", "太湖远大", "北交所", "北交所", "2026-03-12", "11.00", "1170000", "", "",
     "", "化工原料"],
]


def test_ipo_calendar_follows_the_lot_rules_and_reimport_changes_nothing(engine, session, tmp_path):
    bad = [list(r) for r in ISSUES]
    bad[1][7] = "5550"  # STAR subscriptions go in units of 500 shares
    bad[2][4] = "科创板"  # STAR is a Shanghai board
    bad[3][5] = "2026-03-14"  # a Saturday
    with pytest.raises(ImportRejected) as err:
        run_import(engine, ipo_issues_spec(), _write_csv(tmp_path / "bad.csv", HEADER, bad))
    reasons = {e.row: e.reason for e in err.value.report.errors}
    assert sorted(reasons) == [3, 4, 5]
    assert "500-share" in reasons[3] and "not on exchange SZ" in reasons[4]
    assert "not a trading day" in reasons[5]
    assert _snapshot(engine, "ipo_issues") == []

    path = _write_csv(tmp_path / "ipo.csv", HEADER, ISSUES)
    result = CliRunner().invoke(app, ["import", "ipo_issues", str(path)])
    assert result.exit_code == 0, result.output
    issues = {i.code: i for i in session.scalars(select(IpoIssue))}
    main = issues["732131"]
    assert (main.exchange, main.board, main.max_shares, main.price) == ("SH", "main", 12000, Decimal("13.37"))
    assert main.results_on == main.payment_on == date(2026, 3, 12)  # T+2 when the file leaves it out
    assert issues["301589"].board == "chinext" and issues["920118"].board == "bse"
    assert issues["787605"].listing_on == date(2026, 3, 20)

    before = _snapshot(engine, "ipo_issues")
    again = run_import(engine, ipo_issues_spec(), path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert _snapshot(engine, "ipo_issues") == before
