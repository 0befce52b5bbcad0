"""Feedback answered within 24 h, suggestions to "shipped", CSAT both ways, the quarterly report."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from brokercare.core.errors import Conflict, ValidationFailed
from brokercare.outbox.models import OutboxMessage
from brokercare.security.service import get_cipher
from brokercare.service import csat, feedback, reports, sla
from brokercare.service import service as conv_svc
from brokercare.service.channels import Identity, from_json_message
from brokercare.service.models import CsatSurvey, Feedback

from .conftest import OPEN_HOURS
from .fakes import install, scripted_analysis


def say(session, customer, text, analysis, channel="app", now=OPEN_HOURS):
    ident = [Identity("customer_id", str(customer.id), True)]
    if channel == "wechat":
        ident = [Identity("wechat_openid", customer.wechat_openid, True)]
    got = conv_svc.ingest(session, from_json_message(channel, text, identities=ident), now=now)
    out = conv_svc.process(session, got.first_customer_message.id, analysis=analysis, now=now)
    session.commit()
    return out


def test_a_suggestion_from_wechat_is_tracked_to_shipped(session, brokerage, monkeypatch):
    install(monkeypatch)
    say(session, brokerage.mass, "建议APP增加条件单功能，比如跌破某个价格自动卖出。",
        scripted_analysis((("feedback", 0.88),), "calm", 0.1), channel="wechat")
    fb = session.scalar(select(Feedback))
    assert (fb.kind, fb.channel, fb.suggestion_status) == ("suggestion", "wechat", "under_review")
    clock = sla.clocks_of(session, "feedback", fb.id)[0]
    assert clock.due_at - clock.started_at == timedelta(hours=24)
    feedback.answer_feedback(session, fb.id, user_id=brokerage.lead.id,
                             answer="条件单功能已列入下一版本规划，上线后第一时间通知您。",
                             now=OPEN_HOURS + timedelta(hours=3))
    with pytest.raises(Conflict):
        feedback.set_suggestion_status(session, fb.id, "shipped", user_id=1, shipped_in="v8.2")
    feedback.set_suggestion_status(session, fb.id, "accepted", user_id=1)
    with pytest.raises(ValidationFailed):
        feedback.set_suggestion_status(session, fb.id, "shipped", user_id=1)
    feedback.set_suggestion_status(session, fb.id, "shipped", user_id=1, shipped_in="APP v8.2")
    session.commit()
    sent = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "wechat")).all()
    assert any("APP v8.2" in m.body for m in sent) and any("条件单功能已列入" in m.body for m in sent)
    assert sla.run_sla_check(session, OPEN_HOURS + timedelta(hours=30)).breached == 0


def test_unanswered_feedback_breaches_after_24_hours(session, brokerage):
    from brokercare.service.models import Contact

    c = Contact(customer_id=brokerage.long_tail.id, kind="customer", label="王芳")
    session.add(c)
    session.flush()
    feedback.record_feedback(session, contact_id=c.id, channel="branch", text="营业部周六能不能开门？",
                             analysis=scripted_analysis((("branch_service", 0.8),)), now=OPEN_HOURS)
    result = sla.run_sla_check(session, OPEN_HOURS + timedelta(hours=25))
    assert result.breached == 1 and result.escalated == 1  # to the complaints team lead


def test_csat_answered_by_typing_a_digit_on_wechat(session, brokerage, monkeypatch):
    install(monkeypatch)
    out = say(session, brokerage.mass, "我要投诉，转账的钱一直没到！", scripted_analysis((("complaint", 0.9),), "angry", 0.6),
              channel="wechat")
    conv_svc.agent_reply(session, out.conversation.id, brokerage.complaints_agent, "已为您加急处理。",
                         now=OPEN_HOURS + timedelta(minutes=5))
    conv_svc.close_conversation(session, out.conversation.id, by_user_id=brokerage.complaints_agent.id,
                                now=OPEN_HOURS + timedelta(minutes=20))
    session.commit()
    survey = session.scalar(select(CsatSurvey).where(CsatSurvey.subject_kind == "conversation"))
    request = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "csat_request"))
    assert request.channel == "wechat" and request.origin == "service"
    assert get_cipher(session).decrypt(request.address_enc) == brokerage.mass.wechat_openid
    reply = say(session, brokerage.mass, "4", None, channel="wechat", now=OPEN_HOURS + timedelta(minutes=30))
    session.refresh(survey)
    assert survey.score == 4 and survey.agent_id == brokerage.complaints_agent.id
    assert reply.decision.rule == "csat_response" and "感谢您的评价" in reply.reply.text
    with pytest.raises(Conflict):
        csat.record_response(session, survey.token, 5)
    with pytest.raises(ValidationFailed):
        csat.record_response(session, survey.token, 6)


def test_quarterly_feedback_report(session, brokerage, monkeypatch, tmp_path):
    install(monkeypatch)
    say(session, brokerage.mass, "建议增加港股通的盘前提醒。", scripted_analysis((("feedback", 0.9),)))
    say(session, brokerage.long_tail, "客服小王很耐心，给个好评！", scripted_analysis((("feedback", 0.8),), "satisfied", 0.7))
    fb = session.scalars(select(Feedback).order_by(Feedback.id)).all()
    feedback.answer_feedback(session, fb[0].id, user_id=1, answer="已转产品团队评估。",
                             now=OPEN_HOURS + timedelta(hours=2))
    s = csat.request_csat(session, "conversation", fb[0].id, now=OPEN_HOURS)
    csat.record_response(session, s.token, 5, comment="回复及时", now=OPEN_HOURS + timedelta(hours=1))
    session.commit()
    report = reports.build_feedback_report(session, "2026Q3", now=OPEN_HOURS + timedelta(days=3))
    d = report.data
    assert d["feedback_total"] == 2 and dict(d["by_kind"]) == {"建议": 1, "表扬": 1}
    assert d["within_24h_pct"] == 100.0 and d["answer_median_h"] == 2.0
    assert d["overdue_unanswered"] == 1 and d["csat"]["average"] == 5.0
    assert "| 建议 | 1 |" in report.markdown and "<h1>客户意见季度报告 2026Q3</h1>" in report.html
    assert reports.build_feedback_report(session, "2026Q2").data["feedback_total"] == 0
    md, html = reports.write_feedback_report(session, "2026q3", tmp_path)
    assert md.name == "feedback-2026Q3.md" and html.read_text("utf-8").startswith("<!doctype html>")
    with pytest.raises(ValidationFailed):
        reports.quarter_bounds("2026-3")
