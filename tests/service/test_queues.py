"""Human queues: the waiting chat is picked up the moment an agent frees a slot (the Chatwoot
complaint), dedicated managers first, then the least-loaded agent with the skill."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from brokercare.core.errors import Conflict, PermissionDenied
from brokercare.outbox.models import OutboxMessage
from brokercare.security.service import get_cipher
from brokercare.service import queues
from brokercare.service import service as conv_svc
from brokercare.service.channels import Identity, from_json_message
from brokercare.service.models import Conversation, CsatSurvey
from brokercare.service.service import set_agent_profile

from .conftest import OPEN_HOURS, add_customer
from .fakes import install, scripted_analysis


def margin_question(session, customer, text, minutes):
    msg = from_json_message("app", text, identities=[Identity("customer_id", str(customer.id), True)])
    got = conv_svc.ingest(session, msg, now=OPEN_HOURS + timedelta(minutes=minutes))
    out = conv_svc.process(session, got.first_customer_message.id, now=OPEN_HOURS + timedelta(minutes=minutes),
                           analysis=scripted_analysis((("margin_liquidation", 0.9),), "angry", 0.8))
    session.commit()
    return out


def test_a_waiting_chat_is_assigned_the_moment_the_agent_frees_a_slot(session, brokerage, monkeypatch):
    install(monkeypatch)
    # 王敏 is the only free margin agent, with one slot; the team lead also has the skill: fill her.
    set_agent_profile(session, brokerage.lead.id, max_concurrent=0)
    session.commit()
    c1 = add_customer(session, 11, name="钱进", phone="13500000011", tier="mass")
    c2 = add_customer(session, 12, name="孙丽", phone="13500000012", tier="mass")
    c3 = add_customer(session, 13, name="周强", phone="13500000013", tier="long_tail")
    first = margin_question(session, c1, "担保比例跌到128%了，会不会被强平？", 0)
    assert first.agent.id == brokerage.margin_agent.id
    second = margin_question(session, c2, "我收到追保通知了，今天不补会怎样？", 1)
    third = margin_question(session, c3, "平仓线是多少？我快到了！", 2)
    assert second.agent is None and third.agent is None
    assert [c.id for c in queues.waiting_queue(session, "margin")] == [second.conversation.id, third.conversation.id]
    assert "排队" in second.reply.text

    # The agent answers and closes the first chat: the oldest waiting one is hers in the same transaction.
    conv_svc.agent_reply(session, first.conversation.id, brokerage.margin_agent,
                         "您好，担保比例低于130%才会触发平仓，请尽快补充担保物。", now=OPEN_HOURS + timedelta(minutes=9))
    conv_svc.close_conversation(session, first.conversation.id, by_user_id=brokerage.margin_agent.id,
                                now=OPEN_HOURS + timedelta(minutes=10))
    session.commit()
    session.refresh(second.conversation)
    session.refresh(third.conversation)
    assert second.conversation.status == "assigned"
    assert second.conversation.assigned_agent_id == brokerage.margin_agent.id
    assert third.conversation.status == "waiting"
    # and the closed chat, where she served the customer, asked them for CSAT on the channel they used
    survey = session.scalar(select(CsatSurvey).where(CsatSurvey.subject_id == first.conversation.id))
    assert survey.channel == "app"


def test_more_slots_or_coming_back_pulls_from_the_queue(session, brokerage, monkeypatch):
    install(monkeypatch)
    set_agent_profile(session, brokerage.lead.id, max_concurrent=0)
    set_agent_profile(session, brokerage.margin_agent.id, max_concurrent=0)
    session.commit()
    c1 = add_customer(session, 21, name="吴敏", phone="13500000021", tier="mass")
    out = margin_question(session, c1, "强平了怎么办？", 0)
    assert out.conversation.status == "waiting"
    taken = queues.set_capacity(session, brokerage.margin_agent.id, 2, now=OPEN_HOURS + timedelta(minutes=3))
    session.commit()
    assert [c.id for c in taken] == [out.conversation.id]


def test_a_freed_manager_takes_their_own_customer_before_older_chats(session, brokerage, monkeypatch):
    install(monkeypatch)
    mgr = brokerage.manager
    set_agent_profile(session, mgr.id, max_concurrent=1)
    set_agent_profile(session, brokerage.general_agent.id, max_concurrent=0)
    session.commit()
    # An older stranger's funds chat waits in the queue while the manager's only slot is busy.
    stranger = add_customer(session, 31, name="郑华", phone="13500000031", tier="mass")
    msg = from_json_message("app", "基金定投怎么设置？", identities=[Identity("customer_id", str(stranger.id), True)])
    got = conv_svc.ingest(session, msg, now=OPEN_HOURS)
    got.conversation.status, got.conversation.skill, got.conversation.waiting_since = "waiting", "funds", OPEN_HOURS
    busy = Conversation(contact_id=got.conversation.contact_id, channel="app", status="assigned",
                        assigned_agent_id=mgr.id, assigned_at=OPEN_HOURS)
    session.add(busy)
    session.commit()
    vip_msg = from_json_message("app", "帮我看看组合要不要调仓", identities=[Identity("customer_id", str(brokerage.vip.id), True)])
    vip_got = conv_svc.ingest(session, vip_msg, now=OPEN_HOURS + timedelta(minutes=5))
    vip = conv_svc.process(session, vip_got.first_customer_message.id, now=OPEN_HOURS + timedelta(minutes=5),
                           analysis=scripted_analysis((("robo_advice", 0.9),)))
    session.commit()
    assert vip.conversation.status == "waiting" and vip.conversation.preferred_agent_id == mgr.id
    taken = queues.fill_free_slots(session, mgr.id, now=OPEN_HOURS + timedelta(minutes=6))
    assert taken == []  # still full
    busy.status = "closed"
    session.flush()
    taken = queues.fill_free_slots(session, mgr.id, now=OPEN_HOURS + timedelta(minutes=7))
    assert [c.id for c in taken] == [vip.conversation.id]  # own VIP first, though the stranger waited longer


def test_only_the_holder_replies_and_the_reply_meets_the_first_response_clock(session, brokerage, monkeypatch):
    install(monkeypatch)
    msg = from_json_message("wechat", "我要投诉你们营业部乱收费！", identities=[Identity("wechat_openid", "oMASS_zhangwei_77ab", True)])
    got = conv_svc.ingest(session, msg, now=OPEN_HOURS)
    out = conv_svc.process(session, got.first_customer_message.id, now=OPEN_HOURS,
                           analysis=scripted_analysis((("complaint", 0.95),), "angry", 0.4))
    session.commit()
    assert out.agent.id == brokerage.complaints_agent.id
    with pytest.raises(PermissionDenied):
        conv_svc.agent_reply(session, out.conversation.id, brokerage.general_agent, "您好")
    conv_svc.agent_reply(session, out.conversation.id, brokerage.complaints_agent,
                         "张先生您好，我是投诉专员陈洁，已收到您的反映，正在核实收费明细。",
                         now=OPEN_HOURS + timedelta(minutes=4))
    session.commit()
    session.refresh(out.ticket)
    assert out.ticket.first_responded_at is not None
    # A WeChat reply is pushed through the outbox to the customer's openid.
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "wechat")).all()[-1]
    assert get_cipher(session).decrypt(row.address_enc) == "oMASS_zhangwei_77ab" and "陈洁" in row.body
    assert row.origin == "service" and row.state == "pending"
    with pytest.raises(Conflict):
        conv_svc.take_over(session, out.conversation.id, brokerage.general_agent)


def test_staff_with_a_skill_are_found_by_the_database_among_many(session, brokerage):
    """A service centre of dozens of agents: the tax specialist is found by the exact skill, not by
    a skill that merely contains the word, and an absent colleague is not offered chats."""
    from .conftest import add_user

    for i in range(40):
        add_user(session, f"agent_{i:02d}", skills=["trading", "funds"] if i % 2 else ["account_service"])
    planner = add_user(session, "agent_tax_planning", skills=["tax_planning"])
    tax = add_user(session, "agent_tax", skills=["funds", "tax"], display_name="税务专席 孙琪")
    away = add_user(session, "agent_tax_away", skills=["tax"])
    away.active = False
    session.commit()
    found = queues._with_skill(session, "tax")
    assert found == [tax]
    assert planner not in found and away not in found
    from brokercare.security.models import User

    everyone = session.scalars(select(User)).all()
    assert {u.id for u in queues._with_skill(session, "funds")} == {
        u.id for u in everyone if u.active and u.role in queues.STAFF_ROLES and "funds" in queues.skills_of(session, u.id)}
    assert queues._with_skill(session, None) == []
