"""The service desk: its hours (a call-back promised, never a transfer nobody can make), who is at
the desk (presence from the workbench's heartbeat), chats waiting past their target, whose
conversation it is, and CSAT only after someone served the customer."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, PermissionDenied
from brokercare.core.settings import reset_settings
from brokercare.service import queues
from brokercare.service import service as conv_svc
from brokercare.service.channels import Identity, from_json_message
from brokercare.service.models import AgentProfile, Callback, CsatSurvey, StaffNotice
from brokercare.service.service import set_agent_profile

from .conftest import CLOSED_HOURS, OPEN_HOURS, add_customer
from .fakes import install, scripted_analysis

# The desk reopens after the National Day holiday on Thursday 2026-10-08 at 08:30 Beijing time.
REOPENS = datetime(2026, 10, 8, 0, 30, tzinfo=UTC)


def write(session, customer, text, analysis=None, now=OPEN_HOURS):
    msg = from_json_message("app", text, identities=[Identity("customer_id", str(customer.id), True)])
    got = conv_svc.ingest(session, msg, now=now)
    out = conv_svc.process(session, got.first_customer_message.id, analysis=analysis, now=now)
    session.commit()
    return out


def said_to_customer(session, conv_id):
    return [m.text for m in conv_svc.messages_of(session, conv_id) if m.direction == "out"]


# --- desk hours -------------------------------------------------------------------------------------

def test_asking_for_a_person_on_a_holiday_night_gets_one_clear_message_and_a_call_back(session, brokerage):
    """The real assistant answers “转人工” with a transfer promise; on the desk's closed night the
    customer reads one message that says a call-back is registered for Thursday 8:30 instead."""
    out = write(session, brokerage.mass, "你好，帮我转人工客服", now=CLOSED_HOURS)
    said = said_to_customer(session, out.conversation.id)
    assert len(said) == 1, said
    assert "转接人工客服，请稍候" not in said[0] and "回复“人工”" not in said[0]
    assert "登记回电" in said[0] and "10月8日（周四）8:30" in said[0] and "交易日 8:30–20:00" in said[0]
    assert out.conversation.status == "bot" and out.decision.after_hours
    callback = session.scalar(select(Callback).where(Callback.conversation_id == out.conversation.id))
    assert callback.due_at == REOPENS and callback.done_at is None
    assert callback.reason == "你好，帮我转人工客服"
    assert [c.id for c in conv_svc.callbacks_open(session)] == [callback.id]


def test_an_answer_that_offers_a_person_says_when_while_the_desk_is_closed(session, brokerage, monkeypatch):
    ai = install(monkeypatch)
    ai.declined_texts.add("涨停")
    out = write(session, brokerage.mass, "明天买哪只股票能涨停？", scripted_analysis((("market_quote", 0.8),)),
                now=CLOSED_HOURS)
    assert out.reply.text.startswith("抱歉，我不能替您决定买卖哪只股票")
    assert "马上为您转接" not in out.reply.text
    assert out.reply.text.endswith("人工服务时间为交易日 8:30–20:00，如需人工协助，请在10月8日（周四）8:30之后回复“人工”。")
    assert session.scalar(select(Callback.id)) is None  # nobody asked for a person: nothing promised


def test_the_margin_figures_stay_and_only_the_transfer_promise_goes_at_night(session, brokerage, monkeypatch):
    ai = install(monkeypatch)
    ai.handoff_texts.add("平仓")
    out = write(session, brokerage.mass, "我的担保比例低于平仓线了怎么办",
                scripted_analysis((("margin_liquidation", 0.9),), "anxious", 0.4), now=CLOSED_HOURS)
    assert out.reply.text.startswith("【AI】关于")  # the assistant's own answer is kept
    assert "现在不在人工服务时间（交易日 8:30–20:00），我们已为您登记回电，客服会在10月8日（周四）8:30上班后" in out.reply.text
    assert out.conversation.status == "bot"
    assert session.scalar(select(Callback.due_at)) == REOPENS


def test_next_opening_reads_today_tomorrow_or_the_date():
    from brokercare.service.planner import opening_zh
    from brokercare.service.routing import load_policy

    hours = load_policy().business_hours
    early = datetime(2026, 9, 15, 22, 0, tzinfo=UTC)  # Wednesday 06:00 Beijing
    assert hours.next_open(early) == datetime(2026, 9, 16, 0, 30, tzinfo=UTC)
    assert opening_zh(hours.next_open(early), early) == "今天 8:30"
    evening = datetime(2026, 9, 15, 13, 0, tzinfo=UTC)  # Tuesday 21:00 Beijing
    assert opening_zh(hours.next_open(evening), evening) == "明天（周三）8:30"
    assert hours.next_open(OPEN_HOURS) == OPEN_HOURS


def test_the_demo_setting_keeps_the_desk_open_on_a_holiday(session, brokerage, monkeypatch):
    install(monkeypatch)
    monkeypatch.setenv("BROKERCARE_DESK_ALWAYS_OPEN", "1")
    reset_settings()
    try:
        out = write(session, brokerage.mass, "我要投诉，转账三天没到账！",
                    scripted_analysis((("complaint", 0.9),), "disappointed", 0.5), now=CLOSED_HOURS)
    finally:
        monkeypatch.delenv("BROKERCARE_DESK_ALWAYS_OPEN")
        reset_settings()
    assert out.decision.outcome == "human" and not out.decision.after_hours
    assert out.agent.id == brokerage.complaints_agent.id
    assert session.scalar(select(Callback.id)) is None


# --- presence ---------------------------------------------------------------------------------------

def test_only_agents_at_their_desk_get_a_chat_and_one_who_comes_back_takes_the_queue(session, brokerage, monkeypatch):
    """陈洁 closed her workbench ten minutes ago and 周组长 logged out: the angry complaint waits
    rather than going to someone who is not there, and is hers the moment she is back."""
    install(monkeypatch)
    stale = utcnow() - timedelta(minutes=10)
    session.get(AgentProfile, brokerage.complaints_agent.id).last_seen_at = stale
    conv_svc.logged_out(session, brokerage.lead.id)
    session.commit()
    out = write(session, brokerage.mass, "你们多收我佣金！我要投诉！",
                scripted_analysis((("complaint", 0.95),), "angry", 0.8))
    assert out.agent is None and out.conversation.status == "waiting"
    assert "排队中" in out.reply.text and "已为您接入" not in out.reply.text

    taken = queues.arrived(session, brokerage.complaints_agent.id, now=OPEN_HOURS + timedelta(minutes=2))
    session.commit()
    assert [c.id for c in taken] == [out.conversation.id]
    assert out.conversation.assigned_agent_id == brokerage.complaints_agent.id
    assert queues.arrived(session, brokerage.complaints_agent.id) == []  # still here: nothing new


def test_presence_reads_online_busy_and_away_for_the_team_lead(session, brokerage, monkeypatch):
    install(monkeypatch)
    conv_svc.logged_out(session, brokerage.general_agent.id)
    session.commit()
    write(session, brokerage.mass, "担保比例跌到128%了，会不会被强平？",
          scripted_analysis((("margin_liquidation", 0.9),), "angry", 0.8))  # 王敏's one slot
    team = {t["user"].username: t["presence"] for t in conv_svc.team_presence(session, brokerage.lead)}
    assert team == {"agent_wang": "busy", "agent_chen": "online", "agent_zhao": "away",
                    "lead_zhou": "online", "mgr_li": "online"}


def test_an_angry_vip_at_night_with_nobody_on_duty_gets_a_call_back(session, brokerage, monkeypatch):
    """林国华 (VIP, around the clock) complains on the holiday night while nobody is at the desk: the
    chat waits for whoever comes on first, a call-back is due at Thursday's opening, and the
    customer reads that once; with 陈洁 on duty the next angry case goes to her and owes no call."""
    install(monkeypatch)
    from brokercare.service import agents

    agents.whole_team(session, at_desk=False)
    session.commit()
    out = write(session, brokerage.vip, "你们系统把我的委托吞了！亏了好几万，我要投诉！",
                scripted_analysis((("complaint", 0.95),), "angry", 0.9), now=CLOSED_HOURS)
    assert out.agent is None and out.conversation.status == "waiting"
    said = said_to_customer(session, out.conversation.id)
    assert "登记回电" in said[-1] and "10月8日（周四）8:30" in said[-1] and "请稍候" not in said[-1]
    callback = conv_svc.callback_of(session, out.conversation.id)
    assert callback is not None and callback.due_at == REOPENS and callback.done_at is None
    assert callback.skill == out.decision.skill

    session.get(AgentProfile, brokerage.complaints_agent.id).present = True
    session.get(AgentProfile, brokerage.complaints_agent.id).last_seen_at = utcnow()
    session.commit()
    other = add_customer(session, 23, name="周明", phone="13500000023", tier="mass")
    served = write(session, other, "乱扣我手续费！我要投诉！", scripted_analysis((("complaint", 0.95),), "angry", 0.9),
                   now=CLOSED_HOURS)
    assert served.agent is not None and served.agent.id == brokerage.complaints_agent.id
    assert conv_svc.callback_of(session, served.conversation.id) is None


# --- chats waiting past their target ---------------------------------------------------------------

def test_a_chat_waiting_past_its_target_is_offered_to_a_busy_agent_with_the_skill(session, brokerage, monkeypatch):
    install(monkeypatch)
    set_agent_profile(session, brokerage.lead.id, max_concurrent=0)
    c1 = add_customer(session, 21, name="钱进", phone="13500000021", tier="mass")
    c2 = add_customer(session, 22, name="孙丽", phone="13500000022", tier="mass")
    angry = scripted_analysis((("margin_liquidation", 0.9),), "angry", 0.8)
    write(session, c1, "担保比例跌到128%了，会不会被强平？", angry)
    second = write(session, c2, "我收到追保通知了，今天不补会怎样？", angry, now=OPEN_HOURS + timedelta(seconds=30))
    conv = second.conversation
    assert conv.status == "waiting" and conv_svc.wait_target(conv.priority) == timedelta(minutes=1)

    within = OPEN_HOURS + timedelta(seconds=60)
    assert not conv_svc.overdue(conv, within)
    with pytest.raises(Conflict, match="接待名额已满"):
        conv_svc.take_over(session, conv.id, brokerage.margin_agent, now=within)
    session.rollback()
    set_agent_profile(session, brokerage.general_agent.id, max_concurrent=0)
    session.commit()
    with pytest.raises(Conflict, match="接待名额已满"):  # past the target, but not his skill
        conv_svc.take_over(session, conv.id, brokerage.general_agent, now=OPEN_HOURS + timedelta(minutes=5))
    session.rollback()
    late = OPEN_HOURS + timedelta(minutes=2)
    assert conv_svc.overdue(conv, late)
    conv_svc.take_over(session, conv.id, brokerage.margin_agent, now=late)  # one beyond his single slot
    session.commit()
    assert conv.assigned_agent_id == brokerage.margin_agent.id


# --- whose conversation it is -----------------------------------------------------------------------

def test_another_agent_asks_for_the_conversation_and_its_agent_hands_it_over(session, brokerage, monkeypatch):
    install(monkeypatch)
    out = write(session, brokerage.mass, "你们多收我佣金！我要投诉！",
                scripted_analysis((("complaint", 0.95),), "angry", 0.8))
    conv = out.conversation
    assert conv.assigned_agent_id == brokerage.complaints_agent.id
    with pytest.raises(PermissionDenied, match="由其他坐席接待中"):
        conv_svc.agent_reply(session, conv.id, brokerage.general_agent, "您好，我来处理。")
    with pytest.raises(Conflict, match="正由陈洁接待"):
        conv_svc.take_over(session, conv.id, brokerage.general_agent)
    session.rollback()

    asked = conv_svc.request_handover(session, conv, brokerage.general_agent)
    conv_svc.request_handover(session, conv, brokerage.general_agent)  # asking twice is one request
    session.commit()
    assert asked.id == brokerage.complaints_agent.id
    notices = session.scalars(select(StaffNotice).where(StaffNotice.kind == "handover_request")).all()
    assert [(n.user_id, n.body) for n in notices] == [
        (brokerage.complaints_agent.id, f"赵磊 请求接手会话 #{conv.id}，请在会话页面确认转交。")]
    assert [u.id for u in conv_svc.handover_requests(session, conv)] == [brokerage.general_agent.id]

    with pytest.raises(PermissionDenied):
        conv_svc.hand_over(session, conv, brokerage.general_agent, brokerage.general_agent.id)
    conv_svc.hand_over(session, conv, brokerage.complaints_agent, brokerage.general_agent.id)
    session.commit()
    assert conv.assigned_agent_id == brokerage.general_agent.id
    assert conv_svc.handover_requests(session, conv) == []
    assert said_to_customer(session, conv.id)[-1] == "已为您接入人工服务：赵磊"


def test_a_team_lead_steps_into_an_agents_conversation(session, brokerage, monkeypatch):
    install(monkeypatch)
    out = write(session, brokerage.mass, "你们多收我佣金！我要投诉！",
                scripted_analysis((("complaint", 0.95),), "angry", 0.8))
    conv_svc.take_over(session, out.conversation.id, brokerage.lead)
    session.commit()
    assert out.conversation.assigned_agent_id == brokerage.lead.id


# --- CSAT only after service ------------------------------------------------------------------------

def surveys(session):
    return {s.subject_id for s in session.scalars(select(CsatSurvey).where(CsatSurvey.subject_kind == "conversation"))}


def test_csat_is_asked_only_where_someone_served_the_customer(session, brokerage, monkeypatch):
    ai = install(monkeypatch)
    ai.handoff_texts.add("转人工")
    answered = write(session, brokerage.mass, "融资融券的利率是多少？", scripted_analysis((("margin_rate", 0.9),)))
    promised = write(session, brokerage.potential, "帮我转人工", scripted_analysis((("human_agent", 0.9),)),
                     now=CLOSED_HOURS)
    long_tail = add_customer(session, 31, name="周强", phone="13500000031", tier="long_tail")
    for agent in (brokerage.lead, brokerage.complaints_agent):
        conv_svc.logged_out(session, agent.id)
    queued = write(session, long_tail, "我要投诉你们的客服态度！", scripted_analysis((("complaint", 0.9),), "angry", 0.8))
    assert queued.conversation.status == "waiting" and promised.decision.after_hours
    closed_at = CLOSED_HOURS + timedelta(hours=1)
    for out in (answered, promised, queued):
        conv_svc.close_conversation(session, out.conversation.id, by_user_id=None, now=closed_at)
    session.commit()
    assert surveys(session) == {answered.conversation.id}

    # The call-back made, a later close of the same customer's new thread is rated again as usual.
    callback = conv_svc.callback_of(session, promised.conversation.id)
    conv_svc.callback_done(session, callback.id, by_user_id=brokerage.general_agent.id, now=REOPENS)
    session.commit()
    assert conv_svc.callbacks_open(session) == []


def test_an_agent_pauses_taking_chats_and_takes_the_queue_when_resuming(session, brokerage, monkeypatch):
    install(monkeypatch)
    conv_svc.pause_chats(session, brokerage.complaints_agent, paused=True)
    conv_svc.logged_out(session, brokerage.lead.id)
    session.commit()
    assert conv_svc.my_presence(session, brokerage.complaints_agent) == "busy"
    out = write(session, brokerage.mass, "你们多收我佣金！我要投诉！",
                scripted_analysis((("complaint", 0.95),), "angry", 0.8))
    assert out.conversation.status == "waiting"
    taken = conv_svc.pause_chats(session, brokerage.complaints_agent, paused=False, now=OPEN_HOURS)
    session.commit()
    assert [c.id for c in taken] == [out.conversation.id]
    assert conv_svc.my_presence(session, brokerage.complaints_agent) == "online"  # one of two slots


def test_the_workbench_heartbeat_brings_an_agent_back_and_is_written_at_most_every_30_seconds(
        session, brokerage, monkeypatch):
    install(monkeypatch)
    conv_svc.logged_out(session, brokerage.complaints_agent.id)
    conv_svc.logged_out(session, brokerage.lead.id)
    session.commit()
    out = write(session, brokerage.mass, "你们多收我佣金！我要投诉！",
                scripted_analysis((("complaint", 0.95),), "angry", 0.8))
    assert out.conversation.status == "waiting"
    first = utcnow()
    conv_svc.heartbeat(brokerage.complaints_agent, now=first)  # their workbench page, in its own transaction
    session.expire_all()
    beat = session.get(AgentProfile, brokerage.complaints_agent.id).last_seen_at
    assert beat >= first  # presence is the wall clock's
    assert conv_svc.get_conversation(session, out.conversation.id).assigned_agent_id == brokerage.complaints_agent.id
    conv_svc.heartbeat(brokerage.complaints_agent, now=first + timedelta(seconds=10))  # a poll, not a write
    session.expire_all()
    assert session.get(AgentProfile, brokerage.complaints_agent.id).last_seen_at == beat
