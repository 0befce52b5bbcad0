"""What the desk teaches the assistant: the hub's side of issue 15, item 5.

The hub sees four things the assistant should learn from and reports each through the assistant's
service (:func:`brokercare.service.assistant.teach`; the pool is the assistant's table, never
written here): an agent marking the assistant's reading of a message wrong (with the right intent),
an agent sending something other than the suggested reply, a hand-off because the knowledge base
had no answer, and a low CSAT. All in the caller's transaction, so a rolled-back reply teaches
nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.security.policy import Principal
from brokercare.service.assistant import LOW_CSAT, DeskSignal, intent_choices, teach
from brokercare.service.models import Conversation, CsatSurvey, Message, Ticket


def _same(a: str, b: str) -> bool:
    """Equal but for spacing: an agent who only trimmed a space did not edit the suggestion."""
    return "".join(a.split()) == "".join(b.split())


def _intent_of(msg: Message) -> str | None:
    intents = (msg.analysis or {}).get("intents") or []
    return intents[0][0] if intents else None


def last_customer_message(session: Session, conversation_id: int, *, before_id: int | None = None,
                          skip_scores: bool = False) -> Message | None:
    """The customer's newest message in the thread (before ``before_id``); ``skip_scores``: not
    the bare "1"–"5" that answered a CSAT request."""
    stmt = select(Message).where(Message.conversation_id == conversation_id, Message.sender == "customer")
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    for msg in session.scalars(stmt.order_by(Message.id.desc()).limit(5)):
        if skip_scores and msg.text.strip() in ("1", "2", "3", "4", "5"):
            continue
        return msg
    return None


def mark_wrong_intent(session: Session, conversation_id: int, user: Principal, intent: str, *,
                      message_id: int | None = None) -> int | None:
    """The agent on the thread says the assistant misread the customer's message and picks the right
    intent: a labelled row in the assistant's pool (by this agent). ``message_id``: the message
    marked (the customer's newest when not given)."""
    from brokercare.service.writer import get_conversation, may_act  # the writer reports here too

    conv = get_conversation(session, conversation_id)
    may_act(user, conv)
    if intent not in dict(intent_choices()):
        raise ValidationFailed("请从列表中选择正确的意图。(unknown intent)")
    if message_id is None:
        msg = last_customer_message(session, conv.id)
    else:
        msg = session.get(Message, message_id)
        if msg is not None and (msg.conversation_id != conv.id or msg.sender != "customer"):
            msg = None
    if msg is None:
        raise NotFound("这个会话里没有可以标注的客户消息。(no customer message to mark)")
    return teach(session, DeskSignal("wrong_intent", msg.text, proposed_label=_intent_of(msg), label=intent,
                                     by_user_id=user.id, conversation_id=conv.id, message_id=msg.id))


def reply_sent(session: Session, conv: Conversation, reply: Message, user: Principal,
               suggested: str | None) -> None:
    """The agent sent ``reply`` where the assistant had suggested ``suggested``: a changed text is
    an edit the assistant learns from (the question, its suggestion, the agent's words)."""
    if not suggested or not suggested.strip() or _same(suggested, reply.text):
        return
    question = last_customer_message(session, conv.id, before_id=reply.id)
    if question is None:
        return
    teach(session, DeskSignal("agent_edit", question.text, proposed_label=_intent_of(question),
                              by_user_id=user.id, conversation_id=conv.id, message_id=question.id,
                              suggested_reply=suggested.strip(), sent_reply=reply.text))


def handed_off_unanswered(session: Session, conv: Conversation, msg: Message, intent: str | None) -> None:
    """The knowledge base had no answer and a person takes over: the question joins the FAQ gaps."""
    teach(session, DeskSignal("no_kb_answer", msg.text, proposed_label=intent, conversation_id=conv.id,
                              message_id=msg.id))


def csat_recorded(session: Session, survey: CsatSurvey) -> None:
    """A customer who scored the service 1 or 2: the last thing they asked is worth a second look."""
    if survey.score is None or survey.score > LOW_CSAT:
        return
    conversation_id = survey.subject_id if survey.subject_kind == "conversation" else None
    if survey.subject_kind == "ticket":
        ticket = session.get(Ticket, survey.subject_id)
        conversation_id = ticket.conversation_id if ticket is not None else None
    if conversation_id is None:
        return
    question = last_customer_message(session, conversation_id, skip_scores=True)
    if question is None:
        return
    teach(session, DeskSignal("low_csat", question.text, proposed_label=_intent_of(question),
                              conversation_id=conversation_id, message_id=question.id, csat_score=survey.score))
