"""Omni-channel conversations: identity across channels, routing, AI answers and hand-offs."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from brokercare.outbox.models import OutboxMessage
from brokercare.service import service as conv_svc
from brokercare.service.channels import (
    Identity,
    from_json_message,
    parse_call_transcript,
    parse_email,
    parse_wechat,
)
from brokercare.service.models import (
    Contact,
    Conversation,
    Message,
    RoutingDecision,
    Ticket,
)

from .conftest import CLOSED_HOURS, OPEN_HOURS, dkim_signed
from .fakes import install, scripted_analysis

DATA = Path(__file__).parent / "data"


def an(intent, conf=0.9, emotion="calm", intensity=0.2, entities=()):
    return scripted_analysis(((intent, conf),), emotion, intensity, entities=entities)


def send(session, inbound, analysis, now=OPEN_HOURS):
    got = conv_svc.ingest(session, inbound, now=now)
    out = conv_svc.process(session, got.first_customer_message.id, analysis=analysis, now=now)
    session.commit()
    return out


@pytest.fixture
def ai(monkeypatch):
    return install(monkeypatch)


def test_a_customer_known_on_wechat_is_recognised_on_the_phone_and_in_the_app(session, brokerage, ai):
    wx = parse_wechat((DATA / "wechat_text.xml").read_bytes())
    first = send(session, wx, an("transfer_status"))
    assert first.conversation.customer_id == brokerage.mass.id
    # The same customer calls in: verified by IVR with his account number, from another phone.
    call = parse_call_transcript({
        "call_id": "CC-1", "caller_number": "021-66668888", "ivr_verified": True,
        "account_no": "310000000003", "agent": {"id": "A7", "name": "刘芳"},
        "started_at": "2026-09-15T10:40:00+08:00", "ended_at": "2026-09-15T10:44:00+08:00",
        "disposition": "resolved",
        "segments": [{"speaker": "customer", "start_s": 1, "end_s": 5, "text": "我微信上问过的那笔转账到账了吗？"}]})
    second = send(session, call, an("transfer_status"), now=OPEN_HOURS + timedelta(minutes=40))
    assert second.conversation.id == first.conversation.id  # the context followed him
    app = from_json_message("app", "现在到账了，谢谢", identities=[Identity("customer_id", str(brokerage.mass.id), True)])
    # The call was resolved and closed the thread: the app message opens a new one, same contact.
    third = send(session, app, an("chitchat"), now=OPEN_HOURS + timedelta(minutes=50))
    assert third.conversation.contact_id == first.conversation.contact_id
    assert session.scalar(select(func.count(Contact.id))) == 1
    history = conv_svc.history_of_customer(session, brokerage.mass.id)
    assert {c.id for c in history} == {first.conversation.id, third.conversation.id}


def test_unknown_wechat_sender_becomes_a_prospect_and_is_merged_when_identified(session, brokerage, ai):
    voice = parse_wechat((DATA / "wechat_voice.xml").read_bytes())
    out = send(session, voice, an("account_open"))
    contact = session.get(Contact, out.conversation.contact_id)
    assert contact.kind == "prospect" and contact.customer_id is None
    # The assistant answers customers only (it needs a customer record): a prospect gets a person
    # of the account-service desk, without a ticket.
    assert out.decision.outcome == "human" and out.ticket is None
    assert "assistant_handoff=prospect" in out.decision.reasons
    # Later the visitor writes in the app while logged in as 王芳 with that openid attached.
    app = from_json_message("app", "我刚开好户了，想问佣金是多少", identities=[
        Identity("customer_id", str(brokerage.long_tail.id), True),
        Identity("wechat_openid", "oUNKNOWN_visitor_q1w2", True)])
    out2 = send(session, app, an("commission_query"))
    assert out2.conversation.customer_id == brokerage.long_tail.id
    assert session.get(Contact, contact.id) is None  # merged into the customer's contact
    moved = session.get(Conversation, out.conversation.id)
    assert moved.customer_id == brokerage.long_tail.id


def test_unverified_caller_id_does_not_open_a_customers_context(session, brokerage, ai):
    call = parse_call_transcript({
        "call_id": "CC-2", "caller_number": "13816881234", "ivr_verified": False,
        "agent": {"id": "A7", "name": "刘芳"}, "started_at": "2026-09-15T10:40:00+08:00",
        "ended_at": "2026-09-15T10:41:00+08:00",
        "segments": [{"speaker": "customer", "start_s": 1, "end_s": 5, "text": "帮我查一下我的持仓"}]})
    out = send(session, call, an("pnl_query"))
    assert out.conversation.customer_id is None  # the VIP's number, but not verified


def test_wechat_retries_are_stored_once(session, brokerage, ai):
    raw = (DATA / "wechat_text.xml").read_bytes()
    first = conv_svc.ingest(session, parse_wechat(raw), now=OPEN_HOURS)
    again = conv_svc.ingest(session, parse_wechat(raw), now=OPEN_HOURS)
    session.commit()
    assert again.duplicate and again.messages[0].id == first.messages[0].id
    assert session.scalar(select(func.count(Message.id))) == 1


def test_a_push_racing_an_identical_one_loses_at_the_unique_constraint(session, brokerage, ai):
    raw = (DATA / "wechat_text.xml").read_bytes()
    conv_svc.ingest(session, parse_wechat(raw), now=OPEN_HOURS)
    session.commit()
    # The other delivery looked for an earlier one before this one committed, then wrote.
    with pytest.raises(conv_svc.AlreadyDelivered):
        conv_svc.ingest(session, parse_wechat(raw), now=OPEN_HOURS, checked=True)
    assert session.scalar(select(func.count(Message.id))) == 1
    assert conv_svc.delivered(session, parse_wechat(raw)).duplicate


def test_an_app_message_sent_twice_is_stored_routed_and_answered_once(session, brokerage, ai):
    ai.script = {"转账": ("transfer_status", 0.9, "calm", 0.1)}
    msg = from_json_message("app", "昨天转出的3万块怎么还没到银行卡？", client_msg_id="app-7781",
                            identities=[Identity("customer_id", str(brokerage.mass.id), True)])
    first = conv_svc.receive(session, msg, now=OPEN_HOURS)
    again = conv_svc.receive(session, msg, now=OPEN_HOURS + timedelta(seconds=3))
    assert first.processed is not None and not first.ingested.duplicate
    assert again.ingested.duplicate and again.processed is None
    assert again.ingested.first_customer_message.id == first.ingested.first_customer_message.id
    assert session.scalar(select(func.count(Message.id)).where(Message.sender == "customer")) == 1
    assert session.scalar(select(func.count(RoutingDecision.id))) == 1
    assert len(ai.calls) == 1


def test_a_customer_back_after_a_closed_chat_opens_a_new_thread_routed_once(session, brokerage, ai):
    ai.script = {"转账": ("transfer_status", 0.9, "calm", 0.1)}
    me = [Identity("customer_id", str(brokerage.mass.id), True)]
    first = conv_svc.receive(session, from_json_message("app", "银证转账几点截止？", client_msg_id="a-1",
                                                         identities=me), now=OPEN_HOURS)
    conv_svc.close_conversation(session, first.ingested.conversation.id, by_user_id=None, now=OPEN_HOURS)
    session.commit()
    later = OPEN_HOURS + timedelta(hours=2)
    back = conv_svc.receive(session, from_json_message("app", "转账到账了吗？", client_msg_id="a-2",
                                                        identities=me), now=later)
    assert back.ingested.conversation.id != first.ingested.conversation.id
    assert back.ingested.conversation.status == "bot"
    assert back.processed.decision.outcome in ("ai_answer", "ai_offer_human")
    assert back.processed.reply.conversation_id == back.ingested.conversation.id
    decisions = session.scalars(select(RoutingDecision).where(
        RoutingDecision.conversation_id == back.ingested.conversation.id)).all()
    assert len(decisions) == 1 and decisions[0].inputs["contacts_7d"] >= 1
    assert len(ai.calls) == 2


def test_vip_goes_straight_to_the_dedicated_manager_with_a_summary(session, brokerage, ai):
    msg = from_json_message("wechat", "茅台今天跌了这么多，我那2000股要不要先减仓？",
                            identities=[Identity("wechat_openid", "oVIP_linguohua_8x2k", True)])
    out = send(session, msg, an("position_diagnosis", 0.88, "anxious", 0.7,
                                [{"kind": "stock", "symbol": "600519.SH", "text": "茅台"}]))
    assert out.decision.outcome == "human" and out.decision.rule == "vip_human_first"
    assert out.agent.id == brokerage.manager.id
    assert ai.calls == []  # never waited behind the AI
    summary = out.conversation.handoff_summary
    assert summary["intent"] == "position_diagnosis" and summary["emotion"] == "anxious"
    assert [h["symbol"] for h in summary["holdings_touched"]] == ["600519.SH"]
    assert "贵州茅台" in summary["text"] and "焦虑" in summary["text"] and "VIP" in summary["text"]
    assert "经微信渠道" in summary["text"] and "wechat" not in summary["text"]  # no raw channel codes


def test_vip_whose_manager_is_full_goes_to_the_least_loaded_agent_with_the_skill(session, brokerage, ai):
    # The manager has 2 slots, both taken by other customers' chats.
    for _i in range(2):
        c = Conversation(contact_id=_prospect(session).id, channel="app", status="assigned",
                         assigned_agent_id=brokerage.manager.id, assigned_at=OPEN_HOURS)
        session.add(c)
    session.commit()
    msg = from_json_message("app", "基金赎回什么时候到账？", identities=[Identity("customer_id", str(brokerage.vip.id), True)])
    out = send(session, msg, an("fund_trade"))
    assert out.agent.id == brokerage.general_agent.id  # has the funds skill, free slots


def _prospect(session):
    c = Contact(kind="prospect", label="访客")
    session.add(c)
    session.flush()
    return c


def test_angry_customer_is_handed_off_with_what_the_ai_said(session, brokerage, ai):
    ident = [Identity("customer_id", str(brokerage.long_tail.id), True)]
    send(session, from_json_message("app", "我的委托为什么一直不成交？", identities=ident), an("order_status"))
    out = send(session, from_json_message("app", "你们系统太烂了！挂单半小时不成交，错过行情亏了两万，必须给说法！",
                                          identities=ident), an("order_status", 0.7, "angry", 0.9))
    assert out.decision.rule == "angry_customer" and out.agent.id == brokerage.margin_agent.id
    summary = out.conversation.handoff_summary
    assert summary["ai_said"] and summary["ai_said"][-1].startswith("【AI】")
    assert "愤怒" in summary["text"]


def test_complaint_opens_an_urgent_ticket_in_the_complaints_queue(session, brokerage, ai):
    raw = (b"From: =?utf-8?b?" + __import__("base64").b64encode("苏晓梅".encode()) + b"?= <su.xiaomei@example.cn>\r\n"
           b"Subject: =?utf-8?b?" + __import__("base64").b64encode("投诉客户经理违规推荐产品".encode()) + b"?=\r\n"
           b"Message-ID: <c1@example.cn>\r\nAuthentication-Results: mx; dkim=pass\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "客户经理承诺保本，现在亏了30%。".encode())
    out = send(session, parse_email(dkim_signed(raw)), an("complaint", 0.93, "angry", 0.4))
    assert out.conversation.customer_id == brokerage.potential.id
    assert out.decision.rule == "complaint" and out.agent.id == brokerage.complaints_agent.id
    t = out.ticket
    assert (t.priority, t.department, t.source, t.status) == ("urgent", "complaints", "complaint", "open")
    assert t.assignee_id == brokerage.complaints_agent.id
    summary = out.conversation.handoff_summary  # the ticket opened for this very message is in it
    assert summary["open_tickets"] == [t.ticket_no] and f"未结工单：{t.ticket_no}" in summary["text"]
    assert "客户经理承诺保本" in summary["customer_said"][-1]


def test_frozen_account_of_a_potential_customer_is_an_emergency(session, brokerage, ai):
    msg = from_json_message("app", "我的账户怎么被冻结了？今天必须要卖股票！",
                            identities=[Identity("customer_id", str(brokerage.potential.id), True)])
    out = send(session, msg, an("account_frozen", 0.91, "anxious", 0.8))
    assert out.decision.rule == "emergency_vip_potential" and out.ticket.priority == "emergency"
    from brokercare.service.sla import clocks_of

    first = next(c for c in clocks_of(session, "ticket", out.ticket.id) if c.metric == "first_response")
    assert first.due_at - first.started_at == timedelta(minutes=15)


def test_limit_down_on_a_held_stock_is_an_emergency_for_the_vip_only_if_held(session, brokerage, ai):
    ident = [Identity("customer_id", str(brokerage.potential.id), True)]
    out = send(session, from_json_message("app", "宁德时代一字跌停了，我的仓位怎么办？", identities=ident),
               an("position_diagnosis", 0.8, "anxious", 0.6, [{"kind": "stock", "symbol": "300750.SZ"}]))
    assert out.decision.rule == "emergency_vip_potential"
    assert out.conversation.handoff_summary["emergency"] == "limit_down"


def test_after_hours_the_ai_answers_and_a_ticket_waits_for_the_morning(session, brokerage, ai):
    msg = from_json_message("app", "我要投诉，转账三天没到账！", identities=[Identity("customer_id", str(brokerage.mass.id), True)])
    out = send(session, msg, an("complaint", 0.9, "disappointed", 0.5), now=CLOSED_HOURS)
    assert out.decision.outcome == "ai_offer_human" and out.decision.after_hours
    assert "交易日 8:30–20:00" in out.reply.text
    assert out.ticket.source == "complaint" and out.conversation.status == "bot"


def test_when_the_ai_cannot_resolve_a_ticket_is_opened_and_a_person_takes_over(session, brokerage, ai):
    ai.handoff_texts.add("继承")
    msg = from_json_message("app", "父亲去世了，他账户里的股票怎么继承过户？", identities=[Identity("customer_id", str(brokerage.mass.id), True)])
    out = send(session, msg, an("custody_transfer", 0.7))
    assert out.decision.outcome == "human" and out.decision.rule.endswith("+ai_handoff")
    assert out.ticket.source == "ai_unresolved"


def test_a_declined_request_is_answered_with_the_refusal_and_the_offer_of_a_person(session, brokerage, ai):
    """The guard refuses a stock tip; the customer is offered a person (a licensed adviser may
    help, and a message the guard misread still reaches someone), and no ticket is opened."""
    ai.declined_texts.add("明天")
    msg = from_json_message("app", "明天买哪只股票能涨停？给个代码", identities=[Identity("customer_id", str(brokerage.mass.id), True)])
    out = send(session, msg, an("market_quote", 0.8))
    assert out.decision.outcome == "ai_offer_human" and out.decision.rule.endswith("+declined_request")
    assert out.reply.text.startswith("抱歉，我不能替您决定买卖哪只股票")
    assert out.reply.text.endswith("如需人工服务，请回复“人工”，我们马上为您转接。")
    assert out.ticket is None and out.conversation.status == "bot"
    assert "assistant=declined_request" in out.decision.reasons


def test_email_replies_leave_through_the_outbox_to_the_sender(session, brokerage, ai):
    out = send(session, parse_email(dkim_signed((DATA / "email_margin.eml").read_bytes())), an("margin_ratio"))
    assert out.decision.outcome == "ai_answer"
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.channel == "email"))
    assert row.body == out.reply.text and row.subject and row.origin_ref == f"message:{out.reply.id}"
    from brokercare.security.crypto import get_cipher

    assert get_cipher(session).decrypt(row.address_enc) == "su.xiaomei@example.cn"


def test_every_decision_is_recorded_with_its_inputs(session, brokerage, ai):
    msg = from_json_message("web", "国债逆回购怎么买？", identities=[Identity("customer_id", str(brokerage.long_tail.id), True)])
    out = send(session, msg, an("reverse_repo", 0.95))
    row = session.scalar(select(RoutingDecision).where(RoutingDecision.message_id == out.message.id))
    assert row.outcome == "ai_answer" and row.inputs["tier"] == "long_tail" and row.inputs["intent"] == "reverse_repo"
    from brokercare.ledger.models import LedgerEntry

    entry = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "routing.decision"))
    assert entry.subject == f"message:{out.message.id}"
    # Processing the same message again changes nothing.
    again = conv_svc.process(session, out.message.id, analysis=an("complaint"), now=OPEN_HOURS)
    assert again.already and session.scalar(select(func.count(RoutingDecision.id))) == 1


def test_phone_transcript_unresolved_opens_a_follow_up_ticket(session, brokerage, ai):
    call = parse_call_transcript(json.loads((DATA / "call_transcript.json").read_text("utf-8")))
    out = send(session, call, an("fund_trade", 0.8, "anxious", 0.5))
    assert out.conversation.customer_id == brokerage.potential.id
    assert out.ticket.source == "phone" and out.ticket.department == "funds"
    assert session.scalar(select(func.count(Message.id)).where(Message.sender == "agent")) == 3
    assert ai.calls == []
    assert session.scalar(select(func.count(Ticket.id))) == 1
