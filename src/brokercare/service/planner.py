"""The planner: the one place that decides what happens to a customer's message.

From the assistant's analysis and the routing facts it works out a :class:`Plan` — the routing
policy's decision, the AI's answer and what that answer changes (a declined request offers a
person, an assistant that asks for a human gets one, after hours the customer is told when
someone will call back) — and nothing else: it reads, it writes nothing. The writer carries the
plan out. A logged-in customer's message is planned before it is stored, so the write
transaction that follows is short (SQLite has one writer at a time); any other message is
planned right after it is stored (:func:`plan_stored`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.security.service import users_by_id
from brokercare.service import assistant as hub_assistant
from brokercare.service import cases
from brokercare.service.assistant import Analysis, intent_skill
from brokercare.service.channels import Inbound
from brokercare.service.context import (
    ContactFacts,
    Holdings,
    ThreadSoFar,
    build_context,
    customer_record,
    thread_so_far,
)
from brokercare.service.models import Contact, Conversation, CsatSurvey, Message
from brokercare.service.routing import Decision, RoutingContext, decide, load_policy

#: Hand-off reasons of the assistant that are about routing (the policy already weighed mood and
#: confidence), not about a problem the AI failed to solve: they get a person but no ticket.
ROUTING_HANDOFF_REASONS = frozenset({"angry_customer", "low_confidence"})
#: The assistant declined the request (a guaranteed return, a stock tip, another customer's data…):
#: the customer is offered a person, who can say what may be said (a licensed adviser), and a
#: message the guard took for an attempt by mistake (about 2 % of ordinary ones) still gets help.
DECLINED = "declined_request"
OFFER_HUMAN = "\n\n如需人工服务，请回复“人工”，我们马上为您转接。"
# While the desk is closed nobody can be put through: the customer is told once what happens and when.
OFFER_LATER = "\n\n人工服务时间为{hours}，如需人工协助，请在{when}之后回复“人工”。"
CALLBACK_NOTE = "\n\n现在不在人工服务时间（{hours}），我们已为您登记回电，客服会在{when}上班后第一时间联系您。"
CALLBACK_ONLY = ("现在不在人工服务时间（{hours}），暂时无法为您转接人工客服。我们已为您登记回电，"
                 "客服会在{when}上班后第一时间联系您；在此之前，您也可以继续向我提问。")
CSAT_THANKS = "感谢您的评价，我们会持续改进服务！"
CSAT_REPLY = re.compile(r"^\s*([1-5])\s*(分|星)?\s*[。.!！]?\s*$")


def analyze(text: str) -> Analysis | None:
    """The assistant's analysis of ``text`` (``None`` while the process has no assistant)."""
    assistant = hub_assistant.current()
    return assistant.analyze(text) if assistant is not None else None


def analyze_many(texts: list[str]) -> list[Analysis] | None:
    assistant = hub_assistant.current()
    return assistant.analyze_many(texts) if assistant is not None else None


def ai_reply(session: Session, customer_id: int | None, channel: str, text: str,
             analysis: Analysis | None = None) -> tuple[str | None, bool, str | None]:
    """The assistant's answer, whether it asks for a human, and why.

    Without an assistant, or for a sender it cannot serve (a prospect with no customer record),
    there is no answer and a person takes over.
    """
    assistant = hub_assistant.current()
    if assistant is None:
        return None, True, "assistant_unavailable"
    if customer_id is None:
        return None, True, "prospect"
    reply = assistant.reply(session, customer_id, text, channel=channel, analysis=analysis)
    handoff = bool(reply.handoff)
    return reply.text, handoff, DECLINED if reply.declined and not handoff else reply.handoff_reason


@dataclass
class Plan:
    """What happens to one message: the context, the final decision, the AI's answer (with the
    lines the decision adds) and where a ticket would come from."""

    contact: Contact | None
    conversation: Conversation | None  # None: the message opens a new thread
    ctx: RoutingContext
    decision: Decision
    held: Holdings
    reply: tuple[str | None, bool, str | None] | None = None  # the assistant's, as it came
    customer: Any = None  # kept referenced: the session's identity map holds objects weakly
    status: str = "bot"  # of the thread when planned: "bot", or "waiting"/"assigned" (with a person)
    answer: str | None = None  # what the AI says in the thread
    source: str = "ai_unresolved"  # of a ticket the plan opens
    agent: Any = None  # the member of staff who has the thread, read while planning (kept referenced too)
    callback_due: datetime | None = None  # the desk is closed: a call-back promised for its opening
    before: ThreadSoFar | None = None  # a hand-off's summary of the thread so far, read while planning
    similar: list[dict] | None = None  # a hand-off's similar resolved cases, searched while planning

    @property
    def hands_off(self) -> bool:
        """Whether the message goes to a person now (the policy says so, or the AI asks)."""
        return self.status == "bot" and (self.decision.outcome == "human" or bool(self.reply and self.reply[1]))


def _source(analysis: Analysis, ctx: RoutingContext, decision: Decision) -> str:
    if analysis.intent == "complaint":
        return "complaint"
    if ctx.emergency:
        return "emergency"
    return "after_hours" if decision.after_hours else "ai_unresolved"


def settle(plan: Plan, analysis: Analysis, now: datetime) -> Plan:
    """The decision after the AI's answer: a declined request offers a person, the AI's own
    hand-off takes one (with a ticket when the AI could not solve the problem), and the answer
    gets the line that tells the customer how to reach a person — or, while the desk is closed,
    when a person will call them back (never a promise of a transfer nobody can make)."""
    decision, plan.source = plan.decision, _source(analysis, plan.ctx, plan.decision)
    if decision.outcome not in ("ai_answer", "ai_offer_human") or plan.reply is None:
        return plan
    text, wants_human, why = plan.reply
    if why == DECLINED and decision.outcome == "ai_answer":
        decision = Decision("ai_offer_human", f"{decision.rule}+{DECLINED}", decision.skill,
                            decision.priority, decision.ticket, decision.after_hours,
                            decision.reasons + (f"assistant={DECLINED}",))
    unresolved = why not in ROUTING_HANDOFF_REASONS and why != "prospect"
    if not plan.ctx.business_hours:
        return _closed_desk(plan, decision, text, wants_human, unresolved, now)
    if text and decision.outcome == "ai_offer_human":
        text += OFFER_HUMAN
    if wants_human:
        decision = Decision("human", f"{decision.rule}+ai_handoff", decision.skill,
                            min(decision.priority, 4),
                            ticket=decision.ticket or (True if unresolved else None),
                            reasons=decision.reasons + (f"assistant_handoff={why}",))
        plan.source = "ai_unresolved"
    plan.decision, plan.answer = decision, text
    return plan


def _closed_desk(plan: Plan, decision: Decision, text: str | None, wants_human: bool,
                 unresolved: bool, now: datetime) -> Plan:
    """Outside desk hours: a customer who needs a person (the policy or the AI says so) gets one
    message saying a call-back is registered for the desk's next opening; an answer that only
    offers a person says when to ask."""
    hours = load_policy().business_hours
    when = opening_zh(hours.next_open(now), now)
    if wants_human and not decision.after_hours:
        decision = Decision("ai_offer_human", f"{decision.rule}+after_hours", decision.skill,
                            min(decision.priority, 4), ticket=decision.ticket or (True if unresolved else None),
                            after_hours=True, reasons=decision.reasons + ("business_hours=false",))
        plan.source = "ai_unresolved" if unresolved else "after_hours"
    if decision.after_hours:
        plan.callback_due = hours.next_open(now)
        kept = without_transfer_promise(text or "")
        text = (kept + CALLBACK_NOTE if kept else CALLBACK_ONLY).format(hours=hours.hours_zh(), when=when)
    elif text and decision.outcome == "ai_offer_human":
        text += OFFER_LATER.format(hours=hours.hours_zh(), when=when)
    plan.decision, plan.answer = decision, text
    return plan


#: A sentence of the assistant's answer that promises a transfer ("我马上为您转接两融专员。"): true
#: only while the desk is open, so it is left out of an answer given while it is closed.
_TRANSFER_PROMISE = re.compile(r"[^。！？\n]*(?:转接|转给|请稍候)[^。！？\n]*[。！？]?")


def without_transfer_promise(text: str) -> str:
    """``text`` without its sentences that promise a person now (the rest of the answer stays)."""
    return re.sub(r"\n{3,}", "\n\n", _TRANSFER_PROMISE.sub("", text)).strip()


_WEEKDAY_ZH = "一二三四五六日"


def opening_zh(opening: datetime, now: datetime) -> str:
    """When the desk opens, as a customer reads it: 今天 8:30, 明天（周二）8:30, 10月8日（周四）8:30."""
    zone = ZoneInfo(load_policy().business_hours.timezone)
    at, today = opening.astimezone(zone), now.astimezone(zone).date()
    clock = f"{at.hour}:{at.minute:02d}"
    week = f"（周{_WEEKDAY_ZH[at.weekday()]}）"
    if at.date() == today:
        return f"今天 {clock}"
    if at.date() == today + timedelta(days=1):
        return f"明天{week}{clock}"
    return f"{at.month}月{at.day}日{week}{clock}"


def plannable(inbound: Inbound) -> int | None:
    """The customer id of a message that can be planned before it is stored: a logged-in
    customer writing in the app or on the web (not a call, not an answer to a CSAT survey)."""
    idents = inbound.identities
    if (len(idents) != 1 or idents[0].kind != "customer_id" or not idents[0].verified
            or inbound.channel == "phone" or CSAT_REPLY.match(inbound.customer_text)):
        return None
    return int(idents[0].value)


def plan(session: Session, inbound: Inbound, analysis: Analysis, now: datetime) -> Plan | None:
    """The plan for a logged-in customer's message; ``None`` when the message must be stored
    first (a new contact, a CSAT answer, a call) — :func:`plan_stored` then works it out."""
    customer_id = plannable(inbound)
    if customer_id is None:
        return None
    contacts, threads = contacts_and_threads(session, [customer_id])
    contact = contacts.get(customer_id)
    if contact is None:
        return None
    return plan_for(session, inbound, analysis, now, contact, threads.get(contact.id))


def contacts_and_threads(session: Session, customer_ids: list[int]) -> tuple[dict[int, Contact],
                                                                             dict[int, Conversation]]:
    """The contacts of these customers (by customer id) and each contact's open thread (by
    contact id; the newest if a merge left two), in two reads however many."""
    contacts = {c.customer_id: c for c in session.scalars(
        select(Contact).where(Contact.customer_id.in_(customer_ids)))}
    threads: dict[int, Conversation] = {}
    for conv in session.scalars(select(Conversation).where(
            Conversation.contact_id.in_([c.id for c in contacts.values()]),
            Conversation.status != "closed").order_by(Conversation.id)):
        threads[conv.contact_id] = conv  # ascending: the newest open one wins
    return contacts, threads


def plan_for(session: Session, inbound: Inbound, analysis: Analysis, now: datetime,
             contact: Contact, conv: Conversation | None, facts: ContactFacts | None = None) -> Plan:
    """The plan for ``inbound`` from ``contact`` whose open thread is ``conv`` (``None``: the
    message opens one): the routing context, the decision and, for the AI, its reply. A thread a
    person already has gets its context only; the message goes to them."""
    planned_conv = conv
    if conv is None:  # a new thread: the plan reads the contact's context through a stand-in
        conv = Conversation(contact_id=contact.id, customer_id=contact.customer_id,
                            channel=inbound.channel, status="bot")
    # Read once here, the customer record stays in the session's identity map for every later
    # lookup of this message (tier, the assistant's tools) instead of being fetched again.
    customer = customer_record(session, conv.customer_id)
    held = Holdings(session, conv.customer_id)
    ctx = build_context(session, conv, analysis, inbound.customer_text, now, held,
                        incoming=inbound.channel, facts=facts)
    status = conv.status if planned_conv is not None else "bot"
    if status != "bot":  # the agent's login is read now, not under the write gate when the message goes to them
        agent = users_by_id(session, [conv.assigned_agent_id]).get(conv.assigned_agent_id) \
            if conv.assigned_agent_id else None
        return Plan(contact, planned_conv, ctx, _with_human(conv), held, None, customer, status, agent=agent)
    decision = decide(analysis, ctx)
    reply = None
    if decision.outcome in ("ai_answer", "ai_offer_human"):
        reply = ai_reply(session, conv.customer_id, inbound.channel, inbound.customer_text, analysis)
    plan = settle(Plan(contact, planned_conv, ctx, decision, held, reply, customer, status), analysis, now)
    if plan.hands_off:  # the hand-off summary's holdings and thread: read now, not under the write gate
        held()
        plan.before = thread_so_far(session, planned_conv, contact.id)
        plan.similar = similar_for(session, analysis, inbound.customer_text, plan.before.open_tickets)
    return plan


def similar_for(session: Session, analysis: Analysis, text: str, open_tickets: list[str]) -> list[dict]:
    """The resolved cases a hand-off summary shows as similar (not the customer's open tickets)."""
    return [c.as_dict() for c in cases.similar_cases(session, analysis, text, exclude=open_tickets)]


def _with_human(conv: Conversation) -> Decision:
    return Decision("human", "already_with_human", conv.skill, conv.priority)


def plan_stored(session: Session, msg: Message, conv: Conversation, analysis: Analysis | None,
                now: datetime) -> Plan:
    """The plan for a message already stored in ``conv`` (``analysis`` ``None``: the process has
    no assistant, so a person takes the message)."""
    held = Holdings(session, conv.customer_id)
    ctx = build_context(session, conv, analysis or placeholder_analysis(), msg.text, now, held)
    if conv.status in ("waiting", "assigned"):
        return Plan(None, conv, ctx, _with_human(conv), held, status=conv.status)
    if analysis is None:
        decision = Decision("human", "assistant_unavailable", load_policy().default_skill, 4)
        return settle(Plan(None, conv, ctx, decision, held), placeholder_analysis(), now)
    decision = decide(analysis, ctx)
    reply = None
    if decision.outcome in ("ai_answer", "ai_offer_human"):
        reply = ai_reply(session, conv.customer_id, conv.channel, msg.text, analysis)
    plan = settle(Plan(None, conv, ctx, decision, held, reply), analysis, now)
    if plan.hands_off:
        plan.similar = similar_for(session, analysis, msg.text, [])
    return plan


def placeholder_analysis() -> Analysis:
    return hub_assistant.placeholder("out_of_scope")


def confirm(session: Session, plans: list[Plan]) -> list[bool]:
    """Under the write lock: is each plan's thread still the contact's open one, in the state it
    was planned for? (Another worker may have opened a thread, handed it to a person or closed it
    since.) One read for the whole batch."""
    latest: dict[int, tuple[int, str]] = {}
    for cid, contact_id, status in session.execute(
            select(Conversation.id, Conversation.contact_id, Conversation.status).where(
                Conversation.contact_id.in_({p.contact.id for p in plans}),
                Conversation.status != "closed")):
        if contact_id not in latest or cid > latest[contact_id][0]:
            latest[contact_id] = (cid, status)
    out = []
    for p in plans:
        now_open = latest.get(p.contact.id)
        if p.conversation is None:
            out.append(now_open is None)
        else:
            out.append(now_open == (p.conversation.id, p.status))
    return out


def skill_for(intent: str) -> str:
    return intent_skill(intent) or load_policy().default_skill


@dataclass
class CallPlan:
    """A finished call, handled by a person: its decision, whether it leaves a ticket and why,
    and whether the thread closes."""

    decision: Decision
    ticket_source: str | None
    close: bool


def plan_call(analysis: Analysis, disposition: str, conv_status: str) -> CallPlan:
    complaint = analysis.intent == "complaint"
    needs_ticket = disposition in ("unresolved", "callback") or complaint
    decision = Decision("human", "call_centre_handled",
                        "complaints" if complaint else skill_for(analysis.intent), 5,
                        ticket=True if needs_ticket else None)
    source = ("complaint" if complaint else "phone") if needs_ticket else None
    return CallPlan(decision, source, disposition == "resolved" and conv_status == "bot")


def csat_answer(session: Session, msg: Message, now: datetime) -> tuple[str, int] | None:
    """``(survey token, score)`` when the message answers the contact's open CSAT survey."""
    match = CSAT_REPLY.match(msg.text)
    if not match:
        return None
    token = session.scalar(select(CsatSurvey.token).where(
        CsatSurvey.contact_id == msg.contact_id, CsatSurvey.responded_at.is_(None),
        CsatSurvey.sent_at >= now - timedelta(days=3)).order_by(CsatSurvey.id.desc()).limit(1))
    return (token, int(match.group(1))) if token is not None else None


def csat_decision() -> Decision:
    return Decision("ai_answer", "csat_response", None, 9)


def wants_feedback(analysis: Analysis, decision: Decision) -> bool:
    """Whether the message is recorded as feedback (a suggestion, praise, or a complaint the
    AI handles; a complaint that reaches a person is a ticket)."""
    return analysis.intent == "feedback" or (analysis.intent == "complaint" and decision.outcome != "human")
