"""Importing a broker's risk-assessment history: the latest assessment of each customer is
announced, so the customer's risk level and profile follow (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.imports.test_import import HEADER, PEOPLE, _snapshot, _write_csv
from typer.testing import CliRunner

from brokercare.advisory.models import RiskAssessment
from brokercare.advisory.service import risk_assessments_spec
from brokercare.cli import app
from brokercare.core.bulkimport import ImportRejected, run_import
from brokercare.customers.loading import spec as customers_spec
from brokercare.customers.models import AssessedRisk, Customer
from brokercare.customers.service import get_profile

RA_HEADER = ["customer_no", "level", "score", "assessed_on", "valid_until", "channel"]
HISTORY = [
    ["800000000101", "稳健型", "52", "2024-03-01", "2026-02-28", "柜台"],
    ["800000000101", "C5", "88", "2026-03-02", "2028-03-01", "手机"],
    ["800000000102", "c2", "33", "2025-11-20", "2027-11-19", "网上"],
]


def test_history_imports_all_or_nothing_and_the_latest_level_reaches_the_customer(engine, session, tmp_path):
    run_import(engine, customers_spec(), _write_csv(tmp_path / "c.csv", HEADER, PEOPLE))
    bad = [list(r) for r in HISTORY]
    bad[1][4] = "2025-01-01"  # valid until before it was taken
    bad.append(["800000000999", "C3", "50", "2025-05-05", "2027-05-04", ""])
    with pytest.raises(ImportRejected) as err:
        run_import(engine, risk_assessments_spec(), _write_csv(tmp_path / "bad.csv", RA_HEADER, bad))
    assert [e.row for e in err.value.report.errors] == [3, 5]
    assert "valid_until" in err.value.report.errors[0].reason
    assert "customer 800000000999 not found" in err.value.report.errors[1].reason
    assert _snapshot(engine, "risk_assessments") == []

    path = _write_csv(tmp_path / "ra.csv", RA_HEADER, HISTORY)
    result = CliRunner().invoke(app, ["import", "risk_assessments", str(path)])
    assert result.exit_code == 0, result.output
    wang = session.scalar(select(Customer).where(Customer.customer_no == "800000000101"))
    li = session.scalar(select(Customer).where(Customer.customer_no == "800000000102"))
    assert wang.risk_level == "C5" and li.risk_level == "C2"  # the file said C4 and C3
    copy = session.get(AssessedRisk, wang.id)
    assert (copy.level, copy.score, copy.assessments) == ("C5", 88, 2)
    assert get_profile(session, wang.id).features["risk_level"] == "C5"
    levels = {(r.customer_id, r.assessed_on.isoformat()): (r.level, r.channel)
              for r in session.scalars(select(RiskAssessment))}
    assert levels[(wang.id, "2024-03-01")] == ("C3", "branch")

    before = _snapshot(engine, "risk_assessments")
    again = run_import(engine, risk_assessments_spec(), path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert _snapshot(engine, "risk_assessments") == before
