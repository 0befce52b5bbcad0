"""The writer: carries out the planner's plan for a stored message, deciding nothing itself.

It stores the analysis with the message, says the AI's answer, opens (or adds to) the ticket,
hands the thread to a person with the summary they read first, records feedback, and writes the
routing decision with its ledger entry — all in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, PermissionDenied
from brokercare.security.policy import Principal
from brokercare.service import callbacks, csat, feedback, planner, queues, sla, teaching, tickets
from brokercare.service.assistant import Analysis, analysis_record, intent_name, placeholder
from brokercare.service.audit import batching, ledger_append
from brokercare.service.context import (
    Holdings,
    build_context,
    customer_manager_id,
    handoff_summary,
    thread_so_far,
)
from brokercare.service.models import Conversation, Message, RoutingDecision, Ticket, TicketEvent
from brokercare.service.outbound import say
from brokercare.service.planner import Plan
from brokercare.service.routing import Decision, RoutingContext, load_policy

SKILL_ZH = {
    "trading": "交易", "margin": "两融", "funds": "基金理财", "complaints": "投诉处理",
    "tax": "税务", "legal": "法律事务", "account_security": "账户安全", "account_service": "账户服务",
}


@dataclass
class Processed:
    message: Message
    conversation: Conversation
    decision: Decision | None
    reply: Message | None = None
    ticket: Ticket | None = None
    agent: Principal | None = None
    already: bool = False


def process(session: Session, message_id: int, *, analysis: Analysis | None = None,
            now: datetime | None = None, fresh: bool = False, planned: Plan | None = None) -> Processed:
    """Analyse, route and act on one stored inbound message (idempotent per message;
    ``fresh``: stored in this very transaction, so it cannot have been routed yet; ``planned``:
    the routing worked out before the write and :func:`planner.confirm`-ed under the write lock;
    inside :func:`ledger_batch` the reply and the decision are left to the batch's flush)."""
    now = now or utcnow()
    msg = session.get(Message, message_id)
    if msg is None:
        raise NotFound(f"message {message_id} does not exist")
    conv = session.get(Conversation, msg.conversation_id)
    if not fresh:
        done = session.scalar(select(RoutingDecision).where(RoutingDecision.message_id == msg.id))
        if done is not None:
            return Processed(msg, conv, None, already=True)
    if msg.channel == "phone":
        return _process_call(session, msg, conv, analysis, now)
    if (answer := planner.csat_answer(session, msg, now)) is not None:
        csat.record_response(session, answer[0], answer[1], channel=msg.channel, now=now)
        reply = say(session, conv, planner.CSAT_THANKS, sender="ai", now=now)
        decision = planner.csat_decision()
        _record(session, msg, conv, decision, placeholder("feedback", 1.0), RoutingContext(), None, now)
        return Processed(msg, conv, decision, reply)
    analysis = analysis or planner.analyze(msg.text)
    plan = planned or planner.plan_stored(session, msg, conv, analysis, now)
    return execute(session, msg, conv, analysis or placeholder("out_of_scope"), plan, now)


def execute(session: Session, msg: Message, conv: Conversation, analysis: Analysis, plan: Plan,
            now: datetime) -> Processed:
    """Carry out ``plan`` for ``msg`` in ``conv``."""
    if msg.analysis != (stored := analysis_record(analysis)):
        msg.analysis = stored
    if (conv.last_intent, conv.last_emotion) != (analysis.intent, analysis.emotion):
        conv.last_intent, conv.last_emotion = analysis.intent, analysis.emotion
    decision, ctx = plan.decision, plan.ctx
    if plan.status in ("waiting", "assigned"):
        _record(session, msg, conv, decision, analysis, ctx, None, now)
        return Processed(msg, conv, decision, agent=queues.agent(session, conv.assigned_agent_id))
    reply_msg = None
    if plan.answer:
        reply_msg = say(session, conv, plan.answer, sender="ai", now=now, flush=not batching(session))
    ticket = _open_ticket(session, conv, msg, analysis, ctx, decision, plan.source, now) if decision.ticket else None
    if plan.callback_due is not None:
        callbacks.promise(session, conv, msg, skill=decision.skill, due_at=plan.callback_due, ticket=ticket, now=now)
    agent = None
    if decision.outcome == "human":
        agent, queued = _hand_off(session, conv, msg, analysis, plan, now, ticket)
        reply_msg = queued or reply_msg
        if plan.reply is not None and plan.reply[2] == "no_kb_answer":
            teaching.handed_off_unanswered(session, conv, msg, analysis.intent)
        if ticket is not None and ticket.assignee_id is None and agent is not None and \
                decision.skill in queues.skills_of(session, agent.id):
            ticket.assignee_id = agent.id
    if planner.wants_feedback(analysis, decision):
        feedback.record_feedback(session, contact_id=conv.contact_id, channel=msg.channel, text=msg.text,
                                 analysis=analysis, ticket_id=ticket.id if ticket else None, now=now)
    _record(session, msg, conv, decision, analysis, ctx, ticket, now, agent)
    return Processed(msg, conv, decision, reply_msg, ticket, agent)


def _hand_off(session: Session, conv: Conversation, msg: Message, analysis: Analysis, plan: Plan,
              now: datetime, ticket: Ticket | None = None) -> tuple[Principal | None, Message | None]:
    """The thread goes to a person: the agent it was assigned to, or the queue's notice."""
    conv.skill = plan.decision.skill
    conv.priority = plan.decision.priority
    conv.preferred_agent_id = customer_manager_id(session, conv.customer_id)
    before = plan.before or thread_so_far(session, conv, conv.contact_id, before_id=msg.id)
    similar = plan.similar if plan.similar is not None else planner.similar_for(
        session, analysis, msg.text, before.open_tickets)
    ticket_no = ticket.ticket_no if ticket else None
    conv.handoff_summary = handoff_summary(conv, analysis, plan.ctx, plan.held(), msg.text, before=before,
                                           answered=plan.answer, ticket_no=ticket_no,
                                           similar=[c for c in similar if c["ticket_no"] not in before.open_tickets])
    agent = queues.try_assign(session, conv, now=now)
    if agent is not None:
        return agent, None
    skill_zh = SKILL_ZH.get(plan.decision.skill or "", "人工")
    if not plan.ctx.business_hours and _pressing(plan, analysis) and \
            not queues.anyone_present(session, plan.decision.skill):
        return None, say(session, conv, _nobody_on_duty(session, conv, msg, plan, skill_zh, ticket, now),
                         sender="system", now=now)
    if plan.ctx.business_hours:
        text = f"您好，已为您转接{skill_zh}专席，当前排队中，请稍候。"
    else:  # an around-the-clock case (VIP, an emergency) at night: the duty desk, or the morning
        hours = load_policy().business_hours
        text = (f"您好，已为您转接{skill_zh}专席的值班同事，请稍候；如未能及时接入，"
                f"客服会在{planner.opening_zh(hours.next_open(now), now)}上班后第一时间为您处理。")
    return None, say(session, conv, text, sender="system", now=now)


def _pressing(plan: Plan, analysis: Analysis) -> bool:
    """A case that may not simply wait in an empty queue: a VIP, an emergency, an angry customer."""
    return plan.ctx.tier == "vip" or bool(plan.ctx.emergency) or analysis.emotion == "angry"


def _nobody_on_duty(session: Session, conv: Conversation, msg: Message, plan: Plan, skill_zh: str,
                    ticket: Ticket | None, now: datetime) -> str:
    """At night nobody with the skill is on duty: the case stays in the queue for whoever comes on
    first and gets a call-back (待回电) due at the desk's opening, as the desk-closed path does; the
    customer is told exactly that, once."""
    opening = load_policy().business_hours.next_open(now)
    callbacks.promise(session, conv, msg, skill=plan.decision.skill, due_at=opening, ticket=ticket, now=now)
    return (f"您好，现在没有{skill_zh}专席的值班同事在线。已为您登记回电：客服会在"
            f"{planner.opening_zh(opening, now)}上班后第一时间联系您；有值班同事上线也会马上接入。")


def _open_ticket(session: Session, conv: Conversation, msg: Message, analysis: Analysis,
                 ctx: RoutingContext, decision: Decision, source: str, now: datetime) -> Ticket:
    same = session.scalar(select(Ticket).where(
        Ticket.conversation_id == conv.id, Ticket.category == analysis.intent,
        Ticket.status.in_(tickets.OPEN_STATES)).limit(1))
    if same is not None:
        session.add(TicketEvent(ticket_id=same.id, kind="comment", note=f"客户补充：{msg.text}",
                                created_at=now))
        return same
    priority = decision.ticket if isinstance(decision.ticket, str) else sla.ticket_priority(
        analysis.intent, ctx.tier, ctx.emergency)
    if priority == "emergency" and ctx.tier not in ("vip", "potential"):
        priority = "urgent"
    name = intent_name(analysis.intent)
    return tickets.create_ticket(
        session, contact_id=conv.contact_id, subject=f"{name}：{msg.text[:40]}",
        description=msg.text, category=analysis.intent, department=decision.skill,
        priority=priority, source=source, channel=msg.channel, conversation_id=conv.id, now=now,
    )


def _record(session: Session, msg: Message, conv: Conversation, decision: Decision,
            analysis: Analysis, ctx: RoutingContext, ticket: Ticket | None, now: datetime,
            agent: Principal | None = None) -> None:
    inputs = {
        "intent": analysis.intent, "confidence": round(analysis.confidence, 4),
        "emotion": analysis.emotion, "intensity": round(analysis.intensity, 3),
        "tier": ctx.tier, "open_tickets": ctx.open_tickets, "contacts_7d": ctx.contacts_7d,
        "business_hours": ctx.business_hours, "emergency": ctx.emergency_reason,
        "has_manager": ctx.has_manager, "channel": msg.channel,
    }
    session.add(RoutingDecision(
        conversation_id=conv.id, message_id=msg.id, outcome=decision.outcome, rule=decision.rule,
        skill=decision.skill, priority=decision.priority, inputs=inputs,
        assigned_agent_id=agent.id if agent else None, ticket_id=ticket.id if ticket else None,
        decided_at=now,
    ))
    ledger_append(session, "routing.decision", f"message:{msg.id}", {
        "conversation_id": conv.id, "customer_id": conv.customer_id, "outcome": decision.outcome,
        "rule": decision.rule, "skill": decision.skill, "priority": decision.priority,
        "agent_id": agent.id if agent else None, "ticket_id": ticket.id if ticket else None,
        "inputs": inputs, "at": now.isoformat(),
    })
    if not batching(session):
        session.flush()


def _process_call(session: Session, msg: Message, conv: Conversation, analysis: Analysis | None,
                  now: datetime) -> Processed:
    """A finished call was handled by a person; record its analysis and follow-up ticket."""
    customer_text = "\n".join(session.scalars(select(Message.text).where(
        Message.conversation_id == conv.id, Message.channel == "phone", Message.sender == "customer",
        Message.external_id.like(f"call:{(msg.meta or {}).get('call_id', '')}%")).order_by(Message.id)))
    analysis = analysis or planner.analyze(customer_text) or placeholder("out_of_scope")
    msg.analysis = analysis_record(analysis)
    conv.last_intent, conv.last_emotion = analysis.intent, analysis.emotion
    ctx = build_context(session, conv, analysis, customer_text, now, Holdings(session, conv.customer_id))
    call = planner.plan_call(analysis, (msg.meta or {}).get("disposition", "resolved"), conv.status)
    ticket = None
    if call.ticket_source is not None:
        ticket = _open_ticket(session, conv, msg, analysis, ctx, call.decision, call.ticket_source, now)
    if analysis.intent in ("feedback", "complaint"):
        feedback.record_feedback(session, contact_id=conv.contact_id, channel="phone", text=customer_text,
                                 analysis=analysis, ticket_id=ticket.id if ticket else None, now=now)
    _record(session, msg, conv, call.decision, analysis, ctx, ticket, now)
    if call.close:
        close_conversation(session, conv.id, by_user_id=None, now=now)
    return Processed(msg, conv, call.decision, None, ticket)


def get_conversation(session: Session, conversation_id: int) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conv


def may_act(user: Principal, conv: Conversation) -> None:
    """Only the assigned agent (or a team lead, an admin) acts on an assigned thread."""
    if user.role in ("team_lead", "admin"):
        return
    if conv.assigned_agent_id != user.id:
        raise PermissionDenied("这个会话由其他坐席接待中，您不能在此操作。(this conversation is assigned to another agent)")


def close_conversation(session: Session, conversation_id: int, *, by_user_id: int | None,
                       now: datetime | None = None, user: Principal | None = None) -> Conversation:
    """Close a thread, refill the slot, and ask the customer for CSAT on the channel they used —
    only when someone served them (:func:`served`): a thread nobody answered, or one the AI
    left with a call-back promised, is not rated."""
    now = now or utcnow()
    conv = get_conversation(session, conversation_id)
    if user is not None and conv.status == "assigned":
        may_act(user, conv)
    if conv.status == "closed":
        raise Conflict(f"会话 #{conversation_id} 已经结束。(conversation {conversation_id} is already closed)")
    agent_id = conv.assigned_agent_id
    conv.status, conv.closed_at, conv.closed_by_id = "closed", now, by_user_id
    session.flush()
    if served(session, conv):
        csat.request_csat(session, "conversation", conv.id, now=now)
    if agent_id is not None:
        queues.fill_free_slots(session, agent_id, now=now)
    return conv


def served(session: Session, conv: Conversation) -> bool:
    """Whether the customer was served in ``conv``: a person replied or called back, or the AI
    answered and left nothing open (no call-back pending, no hand-off still waiting)."""
    if conv.first_human_response_at is not None:
        return True
    if session.scalar(select(Message.id).where(Message.conversation_id == conv.id,
                                               Message.sender == "agent").limit(1)) is not None:
        return True
    promised = callbacks.callback_of(session, conv.id)
    if promised is not None:
        return promised.done_at is not None  # a person called back
    if conv.assigned_at is None and conv.waiting_since is not None:
        return False  # handed to the queue, and closed before anyone took it
    return session.scalar(select(Message.id).where(Message.conversation_id == conv.id,
                                                   Message.sender == "ai").limit(1)) is not None
