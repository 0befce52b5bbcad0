"""Suitability: the C↔R ladder, the lowest category's hard refusal, professionals, confirmations."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from brokercare.advisory import suitability
from brokercare.advisory.models import SuitabilityConfirmation
from brokercare.advisory.suitability import (
    assess_professional,
    check,
    check_customer,
    record_confirmation,
)
from brokercare.cli import app
from brokercare.core.errors import NotFound, PermissionDenied, ValidationFailed
from brokercare.ledger import service as ledger

LADDER = {"C1": 1, "C2": 2, "C3": 3, "C4": 4, "C5": 5}


@pytest.mark.parametrize("level", list(LADDER))
@pytest.mark.parametrize("risk", ["R1", "R2", "R3", "R4", "R5"])
def test_ladder_matches_the_rules(level, risk):
    result = check(level, risk)
    within = int(risk[1]) <= LADDER[level]
    if within:
        assert result.decision == "allow"
    elif level == "C1":
        assert result.decision == "refuse"
    else:
        assert result.decision == "warn_confirm"
    assert result.investor == level and result.product_risk == risk
    assert risk in result.message


def test_c1_is_refused_with_a_humane_explanation():
    result = check("C1", "R2")
    assert result.decision == "refuse" and result.reason == "lowest_category"
    assert "即使您本人坚持也不行" in result.message
    assert "重新做一次风险测评" in result.message


def test_warning_names_both_levels_and_the_confirmation_wording():
    result = check("C3", "R5")
    assert result.decision == "warn_confirm" and result.needs_confirmation
    assert "C3 稳健型" in result.message and "R5（高风险）" in result.message
    assert "自愿购买" in result.message


def test_professional_may_buy_everything():
    for risk in ("R1", "R5"):
        assert check("professional", risk).decision == "allow"
    assert check("专业投资者", "高风险").decision == "allow"


@pytest.mark.parametrize("investor,risk", [("C6", "R1"), ("", "R1"), ("C2", "R0"), ("C2", "R6")])
def test_unknown_categories_are_rejected(investor, risk):
    with pytest.raises(ValidationFailed):
        check(investor, risk)


def test_professional_thresholds_follow_article_8_and_11():
    assert assess_professional(financial_assets=5_000_000, avg_income_3y=0, experience_years=2).professional
    assert assess_professional(financial_assets=0, avg_income_3y=500_000, experience_years=3).professional
    rich_novice = assess_professional(financial_assets=9_000_000, avg_income_3y=0, experience_years=1)
    assert not rich_novice.professional and rich_novice.may_apply
    mid = assess_professional(financial_assets=3_200_000, avg_income_3y=0, experience_years=1.5)
    assert not mid.professional and mid.may_apply and "书面" in mid.message
    small = assess_professional(financial_assets=200_000, avg_income_3y=120_000, experience_years=5)
    assert not small.professional and not small.may_apply
    with pytest.raises(ValidationFailed):
        assess_professional(financial_assets=-1, avg_income_3y=0, experience_years=0)


def test_cli_prints_decision_and_message():
    runner = CliRunner()
    out = runner.invoke(app, ["advise", "check", "--investor", "C2", "--product", "R4", "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["decision"] == "warn_confirm" and "R4" in body["message"]
    out = runner.invoke(app, ["advise", "check", "--investor", "C1", "--product", "R2"])
    assert out.exit_code == 0 and "refuse" in out.output
    bad = runner.invoke(app, ["advise", "check", "--investor", "C7", "--product", "R2"])
    assert bad.exit_code == 2


def test_customer_check_uses_a_valid_assessment(session, customer_factory):
    c4 = customer_factory(level="C4")
    assert check_customer(session, c4.id, "R4").decision == "allow"
    assert check_customer(session, c4.id, "R5").decision == "warn_confirm"
    never = customer_factory()
    missing = check_customer(session, never.id, "R1")
    assert missing.decision == "refuse" and missing.reason == "assessment_missing"
    stale = customer_factory(level="C5", assessed_on=date.today() - timedelta(days=800))
    expired = check_customer(session, stale.id, "R2")
    assert expired.decision == "refuse" and expired.reason == "assessment_expired" and "到期" in expired.message
    pro = customer_factory(investor_type="professional")
    assert check_customer(session, pro.id, "R5").decision == "allow"
    with pytest.raises(NotFound):
        check_customer(session, 999_999, "R1")


def test_confirmation_is_recorded_once_with_the_text_shown(session, customer_factory):
    customer = customer_factory(level="C3")
    decision = check_customer(session, customer.id, "R4")
    row = record_confirmation(session, customer.id, "000962.OF", decision)
    session.commit()
    stored = session.scalars(select(SuitabilityConfirmation)).all()
    assert len(stored) == 1 and stored[0].id == row.id
    assert stored[0].message == decision.message and len(stored[0].message_sha256) == 64
    assert stored[0].investor_level == "C3" and stored[0].product_risk == "R4"


def test_refusals_and_matches_cannot_be_confirmed(session, customer_factory):
    customer = customer_factory(level="C1")
    with pytest.raises(PermissionDenied):
        record_confirmation(session, customer.id, "000962.OF", check("C1", "R3"))
    with pytest.raises(ValidationFailed):
        record_confirmation(session, customer.id, "000001.OF", check("C1", "R1"))
    with pytest.raises(NotFound):
        record_confirmation(session, 424242, "000962.OF", check("C3", "R4"))
    with pytest.raises(ValidationFailed):
        record_confirmation(session, customer.id, "", check("C3", "R4"))
    assert session.scalars(select(SuitabilityConfirmation)).all() == []


def test_ledger_failure_leaves_no_half_written_confirmation(session, customer_factory, monkeypatch):
    def broken(*_a, **_k):
        raise RuntimeError("ledger down")

    monkeypatch.setattr(suitability, "append", broken)
    customer = customer_factory(level="C2")
    with pytest.raises(RuntimeError):
        record_confirmation(session, customer.id, "110088.SH", check("C2", "R3"))
    assert session.scalars(select(SuitabilityConfirmation)).all() == []


def test_confirmation_is_in_the_real_ledger(session, customer_factory):
    customer = customer_factory(level="C4")
    row = record_confirmation(session, customer.id, "SP-SNOW500", check("C4", "R5"))
    session.commit()
    entry = ledger.get_entry(session, row.ledger_entry_id)
    assert entry.kind == "suitability.confirmed" and entry.subject == f"customer:{customer.id}"
    body = json.loads(entry.body)
    assert body["data"]["message_sha256"] == row.message_sha256 and "message" not in body["data"]
    assert body["data"]["product"] == "SP-SNOW500" and body["data"]["product_risk"] == "R5"
    assert ledger.verify(session).ok
