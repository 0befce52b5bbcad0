"""The hand-off summary's similar-case search: resolved tickets become cases searchable by meaning
(the assistant's sentence encoder), a new hand-off shows the earlier case handled the same way."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select

from brokercare.assistant import service as assistant_service
from brokercare.service import cases, tickets
from brokercare.service import service as conv_svc
from brokercare.service.assistant import intent_name
from brokercare.service.channels import Identity, from_json_message
from brokercare.service.context import ThreadSoFar, handoff_summary
from brokercare.service.models import CaseVector, Contact, Conversation
from brokercare.service.routing import RoutingContext

from .conftest import OPEN_HOURS
from .fakes import ScriptedAssistant, install, scripted_analysis

MARGIN_CASE = "我的两融账户维持担保比例跌破130%了，营业部打电话让我补充担保物，不补会被强平吗？"
MARGIN_RESOLUTION = ("已致电张伟先生（13700001111）说明：维持担保比例低于130%须在T+2日前追加担保物或"
                     "卖出证券还款，恢复至140%以上即可解除追保通知，客户当日转入资金后已恢复。")
PASSWORD_CASE = "忘记交易密码了，登录不了怎么办"
PASSWORD_RESOLUTION = "已指导客户通过APP人脸识别重置交易密码，客户确认可以正常登录。"
NEW_MARGIN = "融资融券维持担保比例低于130%被要求追加保证金"


def _resolved(session, customer, text, category, resolution, *, at=OPEN_HOURS - timedelta(days=20)):
    contact = session.scalar(select(Contact).where(Contact.customer_id == customer.id))
    if contact is None:
        contact = Contact(customer_id=customer.id, kind="customer", label=customer.name)
        session.add(contact)
        session.flush()
    t = tickets.create_ticket(session, contact_id=contact.id, subject=f"{intent_name(category)}：{text[:40]}",
                              description=text, category=category, now=at)
    tickets.transition(session, t.id, "in_progress", actor_id=None, now=at + timedelta(hours=1))
    tickets.transition(session, t.id, "resolved", actor_id=None, note=resolution, now=at + timedelta(hours=3))
    session.commit()
    return t


def _vip_hand_off(session, text):
    """The VIP writes on WeChat: VIP messages go to a person first, with the summary."""
    msg = from_json_message("wechat", text, identities=[Identity("wechat_openid", "oVIP_linguohua_8x2k", True)])
    got = conv_svc.ingest(session, msg, now=OPEN_HOURS)
    out = conv_svc.process(session, got.first_customer_message.id, now=OPEN_HOURS)
    session.commit()
    assert out.decision.outcome == "human"
    return out.conversation.handoff_summary


def test_resolving_a_ticket_stores_the_problem_as_a_masked_case(session, brokerage):
    t = _resolved(session, brokerage.mass, MARGIN_CASE, "margin_liquidation", MARGIN_RESOLUTION)
    row = session.get(CaseVector, t.id)
    assert row.active and row.ticket_no == t.ticket_no and row.category == "margin_liquidation"
    assert row.encoder == assistant_service.embedding_model()
    vector = np.frombuffer(row.vector, dtype="<f2")
    assert vector.shape == (256,) and abs(float(np.linalg.norm(vector.astype(np.float32))) - 1) < 0.01
    # the other customer's name and phone never reach another customer's summary
    assert "张伟" not in row.resolution and "13700001111" not in row.resolution
    assert "张*" in row.resolution and "137****1111" in row.resolution


def test_a_margin_hand_off_finds_the_earlier_margin_case_not_the_password_case(session, brokerage):
    margin = _resolved(session, brokerage.mass, MARGIN_CASE, "margin_liquidation", MARGIN_RESOLUTION)
    password = _resolved(session, brokerage.potential, PASSWORD_CASE, "password_reset", PASSWORD_RESOLUTION)
    summary = _vip_hand_off(session, NEW_MARGIN)
    found = [c["ticket_no"] for c in summary["similar_cases"]]
    assert found == [margin.ticket_no] and password.ticket_no not in summary["text"]
    case = summary["similar_cases"][0]
    assert case["similarity"] >= cases.SIMILARITY_MIN and case["subject"] == "追保与平仓：" + MARGIN_CASE[:40]
    assert f"相似案例：{margin.ticket_no}「" in summary["text"] and "→ 处理：" in summary["text"]
    assert "张伟" not in summary["text"] and "13700001111" not in summary["text"]
    # the password case is not near in meaning either, whatever its category
    vecs = assistant_service.embed([NEW_MARGIN, PASSWORD_CASE])
    assert float(vecs[0] @ vecs[1]) < cases.SIMILARITY_MIN


def test_a_reopened_ticket_is_no_longer_a_case_until_resolved_again(session, brokerage):
    margin = _resolved(session, brokerage.mass, MARGIN_CASE, "margin_liquidation", MARGIN_RESOLUTION)
    tickets.transition(session, margin.id, "open", actor_id=None, note="客户反馈仍被要求追保",
                       now=OPEN_HOURS - timedelta(days=10))
    session.commit()
    assert not session.get(CaseVector, margin.id).active
    assert _vip_hand_off(session, NEW_MARGIN)["similar_cases"] == []
    tickets.transition(session, margin.id, "resolved", actor_id=None, note="已复核并解除追保通知。",
                       now=OPEN_HOURS - timedelta(days=9))
    session.commit()
    conv = session.scalar(select(Conversation).where(Conversation.customer_id == brokerage.vip.id))
    conv_svc.close_conversation(session, conv.id, by_user_id=None)
    session.commit()
    again = _vip_hand_off(session, NEW_MARGIN)["similar_cases"]
    assert [c["ticket_no"] for c in again] == [margin.ticket_no] and again[0]["resolution"] == "已复核并解除追保通知。"


def test_reindex_embeds_tickets_resolved_without_an_assistant_and_drops_reopened_ones(session, brokerage, monkeypatch):
    from brokercare.service import assistant as hub_assistant

    monkeypatch.setattr(hub_assistant, "_wired", [])  # resolved while no assistant was wired
    margin = _resolved(session, brokerage.mass, MARGIN_CASE, "margin_liquidation", MARGIN_RESOLUTION)
    assert session.get(CaseVector, margin.id) is None
    monkeypatch.setattr(hub_assistant, "_wired", [assistant_service])
    done = cases.reindex(session)
    session.commit()
    assert (done.embedded, done.current, done.dropped) == (1, 0, 0)
    assert session.get(CaseVector, margin.id).active
    assert cases.reindex(session).embedded == 0  # already current
    session.get(CaseVector, margin.id).encoder = "an-older-encoder"
    session.commit()
    assert cases.reindex(session).embedded == 1  # a new encoder re-embeds
    tickets.transition(session, margin.id, "open", actor_id=None, now=OPEN_HOURS)
    session.commit()
    assert not session.get(CaseVector, margin.id).active


def test_the_scripted_assistant_embeds_deterministically(monkeypatch):
    fake = ScriptedAssistant()
    a, b = fake.embed([NEW_MARGIN, PASSWORD_CASE]), fake.embed([NEW_MARGIN, PASSWORD_CASE])
    assert a.dtype == np.float32 and a.shape == (2, 256) and np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert install(monkeypatch).embedding_model() == "scripted-bigram-hash-256"


def test_the_summary_says_which_cases_were_alike_in_one_line():
    conv = Conversation(contact_id=1, customer_id=None, channel="app", status="bot")
    similar = [{"ticket_no": "TK20260826000012", "subject": "追保与平仓：维持担保比例跌破130%被要求补充担保物",
                "resolution": "说明T+2日前追加担保物或卖出还款，客户转入资金后已恢复。", "similarity": 0.93}]
    summary = handoff_summary(conv, scripted_analysis((("margin_ratio", 0.9),), text=NEW_MARGIN),
                              RoutingContext(tier="mass"), [], NEW_MARGIN, before=ThreadSoFar([], []),
                              similar=similar)
    assert summary["similar_cases"] == similar
    assert ("相似案例：TK20260826000012「追保与平仓：维持担保比例跌破130%被要求补充担保物」"
            "→ 处理：说明T+2日前追加担保物或卖出还款，客户转入资金后已恢复。") in summary["text"]


def test_the_reindex_command_embeds_what_was_resolved_before(session, brokerage, monkeypatch):
    from typer.testing import CliRunner

    from brokercare.cli import app
    from brokercare.service import assistant as hub_assistant

    monkeypatch.setattr(hub_assistant, "_wired", [])
    margin = _resolved(session, brokerage.mass, MARGIN_CASE, "margin_liquidation", MARGIN_RESOLUTION)
    monkeypatch.setattr(hub_assistant, "_wired", [assistant_service])
    run = CliRunner().invoke(app, ["service", "cases", "reindex"])
    assert run.exit_code == 0, run.output
    assert "1 embedded, 0 already current, 0 reopened tickets dropped" in run.output
    session.expire_all()
    assert session.get(CaseVector, margin.id).active
