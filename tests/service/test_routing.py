"""The routing policy as a broker would check it: who gets the AI, who gets a person, and when."""

import pytest

from brokercare.core.errors import ValidationFailed
from brokercare.service.routing import RoutingContext, decide, load_policy, parse_policy

from .fakes import scripted_analysis


def a(intent, conf=0.9, emotion="calm", intensity=0.2):
    return scripted_analysis(((intent, conf), ("out_of_scope", 0.05)), emotion, intensity)


def test_a_plain_question_from_a_mass_customer_is_answered_by_the_ai():
    d = decide(a("trading_rules"), RoutingContext(tier="mass"))
    assert (d.outcome, d.rule) == ("ai_answer", "default")


def test_a_vip_never_waits_behind_the_ai_even_for_a_simple_question_or_at_night():
    for hours in (True, False):
        d = decide(a("trading_rules"), RoutingContext(tier="vip", business_hours=hours))
        assert d.outcome == "human" and d.rule == "vip_human_first" and not d.after_hours


def test_an_angry_customer_goes_to_a_person_with_the_intents_skill():
    # "你们系统又崩了，我的单子没成交，亏了两万，必须给我个说法！"
    d = decide(a("order_status", 0.8, "angry", 0.9), RoutingContext(tier="long_tail"))
    assert (d.outcome, d.rule, d.skill) == ("human", "angry_customer", "trading")


def test_mild_irritation_is_not_treated_as_anger():
    d = decide(a("order_status", 0.8, "angry", 0.3), RoutingContext(tier="mass"))
    assert d.outcome == "ai_answer"


def test_a_complaint_goes_to_the_complaints_queue_with_a_ticket():
    d = decide(a("complaint"), RoutingContext(tier="mass"))
    assert (d.outcome, d.skill, d.ticket) == ("human", "complaints", True)


def test_a_complaint_after_hours_gets_the_ai_an_offer_and_a_ticket_for_the_morning():
    d = decide(a("complaint"), RoutingContext(tier="mass", business_hours=False))
    assert d.outcome == "ai_offer_human" and d.after_hours and d.ticket


def test_emergency_for_vip_and_potential_only_is_an_emergency_ticket():
    ctx = RoutingContext(tier="potential", emergency=True, emergency_reason="account_frozen")
    d = decide(a("account_frozen"), ctx)
    assert (d.outcome, d.priority, d.ticket) == ("human", 0, "emergency")
    d2 = decide(a("account_frozen"), RoutingContext(tier="mass", emergency=True))
    assert d2.rule == "legal_and_security" and d2.ticket is None


def test_anxious_customer_gets_the_ai_with_an_offer_of_a_person():
    # "最近股市跌惨了，我该怎么办？"
    d = decide(a("position_diagnosis", 0.85, "anxious", 0.7), RoutingContext(tier="mass"))
    assert d.outcome == "ai_offer_human"


def test_potential_customer_who_is_unsure_gets_an_advisor():
    d = decide(a("robo_advice", 0.45), RoutingContext(tier="potential"))
    assert d.outcome == "human" and d.skill == "funds"


def test_low_confidence_offers_a_human_but_chitchat_does_not():
    assert decide(a("fund_query", 0.3), RoutingContext(tier="mass")).outcome == "ai_offer_human"
    assert decide(a("chitchat", 0.3), RoutingContext(tier="mass")).outcome == "ai_answer"


def test_the_third_contact_in_a_week_with_an_open_ticket_reaches_a_person():
    ctx = RoutingContext(tier="mass", open_tickets=1, contacts_7d=3)
    d = decide(a("transfer_status"), ctx)
    assert (d.outcome, d.rule) == ("human", "repeated_contact")
    assert decide(a("transfer_status"), RoutingContext(tier="mass", contacts_7d=3)).outcome == "ai_answer"


def test_policy_is_data_a_broker_can_change(tmp_path, monkeypatch):
    custom = tmp_path / "policy.yaml"
    custom.write_text(
        "rules:\n"
        "  - name: margin_always_human\n"
        "    when: {skill: [margin]}\n"
        "    then: {outcome: human, priority: 1}\n", "utf-8")
    monkeypatch.setenv("BROKERCARE_SERVICE_ROUTING_POLICY", str(custom))
    d = decide(a("margin_ratio"), RoutingContext(tier="long_tail"))
    assert (d.rule, d.outcome, d.skill) == ("margin_always_human", "human", "margin")


@pytest.mark.parametrize("bad, fragment", [
    ("rules:\n  - name: x\n    when: {tier: [gold]}\n    then: {outcome: human}\n", "unknown tier"),
    ("rules:\n  - name: x\n    when: {}\n    then: {outcome: robot}\n", "outcome"),
    ("rules:\n  - name: x\n    when: {mood: angry}\n    then: {outcome: human}\n", "mood"),
    ("rules: [\n", "not valid YAML"),
])
def test_a_broken_policy_is_refused_with_the_place_of_the_error(bad, fragment):
    with pytest.raises(ValidationFailed) as err:
        parse_policy(bad, "test.yaml")
    assert fragment in err.value.detail


def test_shipped_policy_loads():
    assert [r.name for r in load_policy().rules][:2] == ["emergency_vip_potential", "vip_human_first"]


def test_every_complaint_gets_a_ticket_even_when_anger_routed_it():
    d = decide(a("complaint", 0.9, "angry", 0.9), RoutingContext(tier="mass"))
    assert d.rule == "angry_customer" and d.ticket is True
