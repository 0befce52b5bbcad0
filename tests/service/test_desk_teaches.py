"""What the service desk sees becomes the assistant's labelled pool (issue 15, item 5): an agent's
wrong-intent mark, an edited suggestion, a hand-off the knowledge base could not answer, a low
CSAT. The pool is the assistant's table; the hub reports through the assistant's service."""

from __future__ import annotations

from datetime import timedelta

import pytest

from brokercare.assistant import pool
from brokercare.assistant import service as assistant_service
from brokercare.core.errors import PermissionDenied, ValidationFailed
from brokercare.service import service as hub
from brokercare.service.channels import Identity, from_json_message

from .conftest import OPEN_HOURS
from .fakes import ScriptedAssistant, ScriptedReply, install, scripted_analysis


class LearningAssistant(ScriptedAssistant):
    """Scripted answers, the real pool: texts in ``unanswered`` get the knowledge base's
    "no answer" hand-off."""

    learn = staticmethod(assistant_service.learn)

    def __init__(self) -> None:
        super().__init__()
        self.unanswered: set[str] = set()

    def reply(self, session, customer_id, text, *, channel="app", analysis=None):
        if any(t in text for t in self.unanswered):
            return ScriptedReply("关于可转债，我暂时没有找到准确的答案，我把您的问题转给交易专席的同事。", handoff=True,
                                 handoff_reason="no_kb_answer")
        return super().reply(session, customer_id, text, channel=channel, analysis=analysis)


@pytest.fixture
def ai(monkeypatch):
    from brokercare.service import assistant

    fake = LearningAssistant()
    monkeypatch.setattr(assistant, "_wired", [fake])
    return fake


def say(session, customer, text, analysis, now=OPEN_HOURS, channel="app"):
    ident = [Identity("customer_id", str(customer.id), True)]
    got = hub.ingest(session, from_json_message(channel, text, identities=ident), now=now)
    out = hub.process(session, got.first_customer_message.id, analysis=analysis, now=now)
    session.commit()
    return out


def _complaint(session, brokerage):
    """张伟 complains about a transfer; the complaints desk (陈洁) has the thread."""
    out = say(session, brokerage.mass, "我要投诉，昨天转出的5万到现在银行卡还没收到！",
              scripted_analysis((("complaint", 0.9),), "angry", 0.6))
    assert out.conversation.assigned_agent_id == brokerage.complaints_agent.id
    return out


def test_an_agent_marks_the_assistant_wrong_and_picks_the_right_intent(session, brokerage, ai):
    out = _complaint(session, brokerage)
    agent = brokerage.complaints_agent
    hub.mark_wrong_intent(session, out.conversation.id, agent, "transfer_status")
    session.commit()
    (row,) = pool.rows(session, source="wrong_intent")
    assert row.text == "我要投诉，昨天转出的5万到现在银行卡还没收到！"
    assert (row.label, row.proposed_label, row.labelled_by_id) == ("transfer_status", "complaint", agent.id)
    assert (row.conversation_id, row.message_id) == (out.conversation.id, out.message.id)
    # Another agent of the desk may not mark a thread they do not hold; the team lead may.
    with pytest.raises(PermissionDenied):
        hub.mark_wrong_intent(session, out.conversation.id, brokerage.general_agent, "complaint")
    hub.mark_wrong_intent(session, out.conversation.id, brokerage.lead, "complaint")
    with pytest.raises(ValidationFailed):
        hub.mark_wrong_intent(session, out.conversation.id, agent, "转账没到")
    session.commit()
    assert sorted(r.label for r in pool.rows(session, source="wrong_intent")) == ["complaint", "transfer_status"]
    assert ("转账状态", "transfer_status") in [(name, label) for label, name in hub.intent_choices()]


def test_an_edited_suggestion_is_kept_with_what_the_agent_said_instead(session, brokerage, ai):
    out = _complaint(session, brokerage)
    suggested = "您反映的问题我已经完整记录，马上转给投诉处理专员。"
    # Sent as suggested (only spacing differs): nothing to learn.
    hub.agent_reply(session, out.conversation.id, brokerage.complaints_agent, suggested + " ",
                    suggested=suggested, now=OPEN_HOURS + timedelta(minutes=2))
    session.commit()
    assert pool.rows(session, source="agent_edit") == []
    sent = "张先生您好，我查到这笔转账银行已受理，预计今天17点前到账，到账后短信通知您。"
    hub.agent_reply(session, out.conversation.id, brokerage.complaints_agent, sent, suggested=suggested,
                    now=OPEN_HOURS + timedelta(minutes=3))
    session.commit()
    (row,) = pool.rows(session, source="agent_edit")
    assert row.text == "我要投诉，昨天转出的5万到现在银行卡还没收到！" and row.label is None
    assert (row.suggested_reply, row.sent_reply, row.proposed_label) == (suggested, sent, "complaint")
    assert row.labelled_by_id == brokerage.complaints_agent.id


def test_a_hand_off_without_a_knowledge_base_answer_is_an_faq_gap(session, brokerage, ai):
    ai.unanswered.add("下修")
    out = say(session, brokerage.mass, "我持有的可转债公告下修了，下修对我有什么影响？",
              scripted_analysis((("convertible_bond", 0.8),)))
    assert out.decision.outcome == "human"
    say(session, brokerage.mass, "港股通几点开盘", scripted_analysis((("hk_connect", 0.9),)),
        now=OPEN_HOURS + timedelta(minutes=1))
    session.commit()
    (row,) = pool.rows(session, source="no_kb_answer")
    assert row.text == "我持有的可转债公告下修了，下修对我有什么影响？"
    assert (row.proposed_label, row.message_id, row.label) == ("convertible_bond", out.message.id, None)


def test_a_low_csat_sends_the_last_question_to_the_pool_and_a_good_one_does_not(session, brokerage, ai):
    out = _complaint(session, brokerage)
    agent = brokerage.complaints_agent
    hub.agent_reply(session, out.conversation.id, agent, "已为您加急处理。", now=OPEN_HOURS + timedelta(minutes=5))
    hub.close_conversation(session, out.conversation.id, by_user_id=agent.id, now=OPEN_HOURS + timedelta(minutes=20))
    session.commit()
    say(session, brokerage.mass, "1", None, now=OPEN_HOURS + timedelta(minutes=30))
    (row,) = pool.rows(session, source="low_csat")
    assert (row.text, row.csat_score, row.proposed_label) == ("我要投诉，昨天转出的5万到现在银行卡还没收到！", 1, "complaint")

    happy = say(session, brokerage.vip, "我要投诉，APP登录一直闪退！", scripted_analysis((("complaint", 0.9),), "angry", 0.6),
                now=OPEN_HOURS + timedelta(hours=1))
    owner = happy.conversation.assigned_agent_id
    hub.close_conversation(session, happy.conversation.id, by_user_id=owner, now=OPEN_HOURS + timedelta(hours=2))
    session.commit()
    say(session, brokerage.vip, "5", None, now=OPEN_HOURS + timedelta(hours=3))
    assert len(pool.rows(session, source="low_csat")) == 1


def test_an_assistant_that_does_not_learn_leaves_the_desk_working(session, brokerage, monkeypatch):
    install(monkeypatch)  # the routing tests' scripted assistant: no pool
    out = _complaint(session, brokerage)
    assert hub.mark_wrong_intent(session, out.conversation.id, brokerage.complaints_agent, "transfer_status") is None
    session.commit()
    assert pool.counts(session)["wrong_intent"]["rows"] == 0
