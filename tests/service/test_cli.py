"""The operators' commands: routing-check, sla-check and the quarterly feedback report."""

from typer.testing import CliRunner

from brokercare.cli import app
from brokercare.core.settings import get_settings


def test_routing_check_shows_the_policy_and_refuses_a_broken_one(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["service", "routing-check"])
    assert ok.exit_code == 0 and "first match wins" in ok.output and "Business hours" in ok.output
    bad = tmp_path / "p.yaml"
    bad.write_text("rules:\n  - name: x\n    when: {tier: [gold]}\n    then: {outcome: human}\n", "utf-8")
    broken = runner.invoke(app, ["service", "routing-check", "--policy", str(bad)])
    assert broken.exit_code == 1 and "unknown tier" in broken.output


def test_sla_check_and_feedback_report(engine, brokerage, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["service", "sla-check", "--now", "2026-09-15T10:00:00+08:00"])
    assert r.exit_code == 0, r.output
    assert "0 warned, 0 breached" in r.output
    naive = runner.invoke(app, ["service", "sla-check", "--now", "2026-09-15T10:00:00"])
    assert naive.exit_code == 2
    rep = runner.invoke(app, ["report", "feedback", "--quarter", "2026Q3", "--out", str(tmp_path)])
    assert rep.exit_code == 0, rep.output
    assert (tmp_path / "feedback-2026Q3.md").read_text("utf-8").startswith("# 客户意见季度报告 2026Q3")
    assert runner.invoke(app, ["report", "feedback", "--quarter", "Q3"]).exit_code == 1
    # without --out the report goes to the data dir, never into whatever directory the shell is in
    default = runner.invoke(app, ["report", "feedback", "--quarter", "2026Q3"])
    assert default.exit_code == 0, default.output
    assert (get_settings().data_dir / "reports" / "feedback-2026Q3.html").exists()
