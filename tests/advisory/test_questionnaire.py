"""The risk questionnaire: scores and bands, contradictions asked again, validity, storage."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from brokercare.advisory import questionnaire as Q
from brokercare.advisory.models import RiskAssessment
from brokercare.advisory.suitability import check_customer
from brokercare.cli import app
from brokercare.core.bus import set_bus
from brokercare.core.errors import Conflict, ValidationFailed
from brokercare.customers.models import AssessedRisk, Customer, LifeEvent
from brokercare.customers.service import get_profile

# A 40-year-old salaried engineer with a few years of funds and stocks.
STEADY = dict(age="B", income="C", assets="C", share="C", stability="C", experience="D", products="C",
              knowledge="C", horizon="C", goal="C", max_loss="C", reaction="C", allocation="C")


def test_scores_map_to_levels_through_the_configured_bands():
    assert Q.evaluate({k: "A" for k in STEADY}).level == "C1"
    mid = Q.evaluate(STEADY)
    assert mid.status == "complete" and mid.level in ("C3", "C4") and 0 < mid.score < 100
    bold = dict(STEADY, income="E", assets="E", share="E", stability="D", experience="E", products="D",
                knowledge="D", horizon="D", goal="E", max_loss="E", reaction="D", allocation="E")
    assert Q.evaluate(bold).level == "C5"
    assert [Q.band(b["min"]) for b in Q.config()["bands"]] == ["C1", "C2", "C3", "C4", "C5"]


def test_cannot_accept_any_loss_is_the_lowest_category_whatever_the_score():
    result = Q.evaluate(dict(STEADY, max_loss="A", goal="B"))
    assert result.level == "C1" and any("不能接受本金亏损" in n for n in result.notes)


def test_small_loss_but_high_growth_is_asked_again_in_plain_words():
    result = Q.evaluate(dict(STEADY, max_loss="B", goal="E"))
    assert result.status == "needs_clarification" and result.level is None
    c = result.clarifications[0]
    assert c.rule == "loss_vs_growth" and "很难同时满足" in c.prompt and " " not in c.prompt
    assert [q["id"] for q in c.questions] == ["max_loss", "goal"]
    assert c.questions[0]["text"].startswith("假如投了10万元")


@pytest.mark.parametrize("answers,rule", [
    (dict(STEADY, experience="A", products="D"), "novice_derivatives"),
    (dict(STEADY, knowledge="A", products="D"), "little_knowledge_derivatives"),
    (dict(STEADY, age="F", horizon="D", allocation="E"), "elderly_long_all_in"),
    (dict(STEADY, reaction="A", allocation="E"), "panic_vs_all_in"),
])
def test_contradictions_are_caught(answers, rule):
    result = Q.evaluate(answers)
    assert result.status == "needs_clarification"
    assert rule in [c.rule for c in result.clarifications]


def test_second_round_contradiction_takes_the_cautious_answer():
    bold = dict(STEADY, max_loss="B", goal="E")
    second = Q.evaluate(bold, round_=2)
    assert second.status == "complete" and second.answers["goal"] == "C"
    assert second.score < Q.score(Q._validate(bold)) and second.notes
    resolved = Q.evaluate(dict(bold, max_loss="C"), round_=2)  # the customer reconsidered
    assert resolved.notes == [] and resolved.answers["goal"] == "E"


@pytest.mark.parametrize("answers", [{}, dict(STEADY, age="Z"), dict(STEADY, colour="A"), "A"])
def test_bad_answers_are_rejected_in_chinese(answers):
    with pytest.raises(ValidationFailed) as exc:
        Q.evaluate(answers)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in exc.value.detail)


def test_validity_is_24_months_with_month_ends_handled():
    assert Q.valid_until(date(2026, 7, 31)) == date(2028, 7, 31)
    assert Q.valid_until(date(2024, 2, 29)) == date(2026, 2, 28)


def test_assess_stores_the_assessment_and_the_level(session, customer_factory):
    customer = customer_factory(birth=date(1985, 5, 1))
    today = date(2026, 7, 31)
    result = Q.assess(session, customer.id, STEADY, today=today)
    session.commit()
    row = session.scalars(select(RiskAssessment).where(RiskAssessment.customer_id == customer.id)).one()
    assert row.level == result.level and row.valid_until == date(2028, 7, 31)
    assert row.answers["_version"] == str(Q.config()["version"]) and row.answers["goal"] == "C"
    # once committed, risk.assessed brought the customer's level and profile up to date
    session.expire_all()
    assert session.get(Customer, customer.id).risk_level == result.level
    copy = session.get(AssessedRisk, customer.id)
    assert (copy.assessment_id, copy.level, copy.assessments) == (row.id, result.level, 1)
    features = get_profile(session, customer.id).features
    assert features["risk_level"] == result.level and features["risk_score"] == result.score
    assert check_customer(session, customer.id, "R3", today=today).decision == "allow"
    v = Q.validity(session, customer.id, today=date(2028, 7, 10))
    assert v.status == "expiring" and "21天后" in v.message
    assert Q.validity(session, customer.id, today=date(2028, 8, 1)).status == "expired"


def test_nothing_is_written_when_clarification_is_needed_or_age_disagrees(session, customer_factory):
    customer = customer_factory(birth=date(1985, 5, 1))
    result = Q.assess(session, customer.id, dict(STEADY, max_loss="B", goal="E"), today=date(2026, 7, 31))
    assert result.status == "needs_clarification"
    with pytest.raises(ValidationFailed) as exc:
        Q.assess(session, customer.id, dict(STEADY, age="F"), today=date(2026, 7, 31))
    assert "41岁" in exc.value.detail
    session.commit()
    assert session.scalars(select(RiskAssessment)).all() == []
    assert session.get(Customer, customer.id).risk_level is None


def test_daily_attempt_limit(session, customer_factory):
    customer = customer_factory(birth=date(1985, 5, 1))
    day = date(2026, 7, 31)
    for _ in range(Q.config()["max_attempts_per_day"]):
        Q.assess(session, customer.id, STEADY, today=day)
    with pytest.raises(Conflict):
        Q.assess(session, customer.id, dict(STEADY, goal="E", max_loss="E"), today=day)
    Q.assess(session, customer.id, STEADY, today=day + timedelta(days=1))


def test_a_life_event_after_the_test_suggests_a_new_one(session, customer_factory):
    customer = customer_factory(birth=date(1962, 3, 1))
    Q.assess(session, customer.id, dict(STEADY, age="D"), today=date(2026, 1, 5))
    session.add(LifeEvent(customer_id=customer.id, kind="retirement", occurred_on=date(2026, 3, 1)))
    session.flush()
    v = Q.validity(session, customer.id, today=date(2026, 7, 31))
    assert v.status == "reassess_suggested" and "退休" in v.message and "仍有效" in v.message
    # still valid for suitability, so purchases are not blocked
    assert check_customer(session, customer.id, "R1", today=date(2026, 7, 31)).decision == "allow"


def test_an_assessment_taken_at_the_branch_cli_updates_the_customer_at_once(session, customer_factory):
    """``brokercare advise assess`` runs with nobody else on the in-process bus: the command itself
    lets the customers domain hear ``risk.assessed``, so the level and profile follow at once."""
    set_bus(None)  # a fresh process: no API start-up has subscribed anything
    customer = customer_factory(birth=date(1985, 5, 1))
    session.commit()
    answers = ",".join(f"{k}={v}" for k, v in STEADY.items())
    out = CliRunner().invoke(app, ["advise", "assess", "--customer", str(customer.id), "--answers", answers])
    assert out.exit_code == 0, out.output
    session.expire_all()
    level = session.get(Customer, customer.id).risk_level
    assert level in ("C3", "C4") and level in out.output
    assert get_profile(session, customer.id).features["risk_level"] == level
    assert session.scalars(select(RiskAssessment.channel)).one() == "branch"
