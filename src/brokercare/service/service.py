"""The service hub's public face: what the web pages, the API, the jobs and other domains call.

A message goes through the hub's stages in order — :mod:`contacts` (who wrote), :mod:`intake`
(stored once), :mod:`context` (the routing facts), :mod:`planner` (the decision), :mod:`writer`
(carried out) — and :func:`receive` runs them for one message, :func:`receive_many` for a batch
that arrived together (one transaction, one commit). Staff act on threads through the functions
below; the routing consumer of the bus (:func:`handle_message_received`) routes messages stored
by a process that left routing to a worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from brokercare.core.bus import Event, InProcessBus, get_bus
from brokercare.core.database import session_factory, utcnow, write_gate
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.core.service import mark_processed
from brokercare.customers import service as customers
from brokercare.security.policy import Principal
from brokercare.service import desk, queues, sla, teaching
from brokercare.service.agents import PRESENCE_ZH as PRESENCE_ZH
from brokercare.service.agents import profile as agent_profile
from brokercare.service.agents import profiles as agent_profiles
from brokercare.service.agents import set_profile as set_agent_profile
from brokercare.service.agents import set_profiles_many as set_agent_profiles_many
from brokercare.service.agents import team_of as team_of
from brokercare.service.assistant import Analysis
from brokercare.service.assistant import Assistant as Assistant
from brokercare.service.assistant import intent_choices as intent_choices
from brokercare.service.assistant import wire as wire_assistant
from brokercare.service.audit import ledger_batch
from brokercare.service.callbacks import callback_of as callback_of
from brokercare.service.callbacks import mark_done as callback_done
from brokercare.service.callbacks import open_callbacks as callbacks_open
from brokercare.service.channels import CHANNEL_ZH as CHANNEL_ZH
from brokercare.service.channels import Identity as Identity
from brokercare.service.channels import Inbound
from brokercare.service.channels import from_json_message as from_json_message
from brokercare.service.contacts import contact_of_customer as contact_of_customer
from brokercare.service.contacts import normalise_phone as normalise_phone
from brokercare.service.contacts import resolve_contact as resolve_contact
from brokercare.service.context import assistant_prefetched, contact_facts
from brokercare.service.desk import hand_over as hand_over
from brokercare.service.desk import handover_requests as handover_requests
from brokercare.service.desk import heartbeat as heartbeat
from brokercare.service.desk import logged_out as logged_out
from brokercare.service.desk import my_presence as my_presence
from brokercare.service.desk import overdue as overdue
from brokercare.service.desk import pause_chats as pause_chats
from brokercare.service.desk import request_handover as request_handover
from brokercare.service.desk import team_presence as team_presence
from brokercare.service.desk import wait_target as wait_target
from brokercare.service.facts import complaint_feedback_facts as complaint_feedback_facts
from brokercare.service.facts import complaint_texts as complaint_texts
from brokercare.service.facts import conversation_facts as conversation_facts
from brokercare.service.facts import conversation_starts as conversation_starts
from brokercare.service.facts import csat_facts as csat_facts
from brokercare.service.facts import sla_clock_facts as sla_clock_facts
from brokercare.service.facts import sla_clocks_at_risk as sla_clocks_at_risk
from brokercare.service.facts import suggestion_outcomes as suggestion_outcomes
from brokercare.service.facts import ticket_facts as ticket_facts
from brokercare.service.intake import AlreadyDelivered as AlreadyDelivered
from brokercare.service.intake import Ingested, batchable, delivered, ingest
from brokercare.service.models import (
    Contact,
    Conversation,
    Message,
    RoutingDecision,
    Ticket,
)
from brokercare.service.notices import mark_notices_read as mark_notices_read
from brokercare.service.notices import staff_notices as staff_notices
from brokercare.service.outbound import delivery_of as delivery_of
from brokercare.service.outbound import say
from brokercare.service.outbound import send_to_contact as send_to_contact
from brokercare.service.planner import (
    Plan,
    analyze_many,
    confirm,
    contacts_and_threads,
    plan,
    plan_for,
    plannable,
)
from brokercare.service.planner import analyze as analyze
from brokercare.service.queues import STAFF_ROLES as QUEUE_ROLES
from brokercare.service.queues import agent as queue_agent
from brokercare.service.queues import waiting_queue as waiting_queue
from brokercare.service.sla import clocks_of as clocks_of
from brokercare.service.teaching import mark_wrong_intent as mark_wrong_intent
from brokercare.service.tickets import case_ticket as case_ticket
from brokercare.service.tickets import create_ticket as create_ticket
from brokercare.service.tickets import list_tickets as list_tickets
from brokercare.service.tickets import transition as transition_ticket
from brokercare.service.writer import Processed, get_conversation, may_act, process
from brokercare.service.writer import close_conversation as close_conversation

__all__ = ["CHANNEL_ZH", "AlreadyDelivered", "Assistant", "Identity", "assigned_to", "case_ticket", "clocks_of", "create_ticket",
           "from_json_message", "get_contact", "list_tickets", "transition_ticket",
           "waiting_queue", "MessageReceived", "Processed", "Received", "agent_profile",
           "agent_profiles", "agent_reply", "analyze", "close_conversation", "close_idle_conversations",
           "confirm", "contact_of_customer", "delivered", "get_conversation", "handle_message_received",
           "history_of_customer", "ingest", "messages_of", "normalise_phone", "plan", "process", "receive",
           "receive_many", "resolve_contact", "route_stranded", "send_to_contact", "set_agent_profile",
           "set_agent_profiles_many", "delivery_of", "staff_notices", "mark_notices_read", "subscribe_routing",
           "take_over", "wire_assistant", "mark_wrong_intent", "intent_choices", "heartbeat", "logged_out", "team_presence",
           "hand_over", "handover_requests", "overdue", "request_handover", "wait_target",
           "callbacks_open", "callback_of", "callback_done", "queue_agent", "PRESENCE_ZH", "my_presence", "pause_chats", "QUEUE_ROLES",
           # batch reads for the quality domain's KPIs (service/facts.py)
           "complaint_feedback_facts", "conversation_facts", "conversation_starts", "csat_facts", "sla_clock_facts",
           "sla_clocks_at_risk", "ticket_facts", "complaint_texts", "suggestion_outcomes"]

log = logging.getLogger(__name__)

MESSAGE_RECEIVED = "message.received"
ROUTING_CONSUMER = "service.routing"


class MessageReceived(BaseModel):
    """Payload of the hub's ``message.received`` events (checked by the routing consumer; the
    type stays free-form on the bus so other publishers' events of that name are not refused)."""

    message_id: int
    conversation_id: int
    channel: str


# --- staff actions ----------------------------------------------------------------------------------

def agent_reply(session: Session, conversation_id: int, user: Principal, text: str, *,
                now: datetime | None = None, suggested: str | None = None) -> Message:
    """The agent's message to the customer; ``suggested``: the assistant's suggestion the reply box
    held, so a changed text teaches the assistant (:mod:`brokercare.service.teaching`)."""
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("回复内容不能为空，请输入要发送给客户的内容。(reply text is empty)")
    conv = get_conversation(session, conversation_id)
    if conv.status == "closed":
        raise Conflict("会话已结束，客户再次来信会开启新的会话。"
                       "(the conversation is closed; the customer's next message opens a new one)")
    if conv.status != "assigned":
        raise Conflict("请先接入这个会话，再回复客户。(take the conversation from the queue before replying)")
    may_act(user, conv)
    msg = say(session, conv, text, sender="agent", agent_id=user.id, now=now)
    if conv.first_human_response_at is None:
        conv.first_human_response_at = now
    for ticket_id in session.scalars(select(Ticket.id).where(
            Ticket.conversation_id == conv.id, Ticket.first_responded_at.is_(None))):
        ticket = session.get(Ticket, ticket_id)
        ticket.first_responded_at = now
        sla.meet(session, "ticket", ticket_id, "first_response", now)
    teaching.reply_sent(session, conv, msg, user, suggested)
    session.flush()
    return msg


def get_contact(session: Session, contact_id: int) -> Contact | None:
    return session.get(Contact, contact_id)


def assigned_to(session: Session, agent_id: int, *, limit: int = 20) -> list[Conversation]:
    """The threads an agent holds now, most recently active first."""
    return list(session.scalars(select(Conversation).where(
        Conversation.assigned_agent_id == agent_id, Conversation.status == "assigned")
        .order_by(Conversation.last_message_at.desc()).limit(limit)))


def take_over(session: Session, conversation_id: int, user: Principal, *, now: datetime | None = None) -> Conversation:
    """A member of staff picks a conversation from the bot or the queue themselves: with a free
    slot, or beyond their slots when it waited past its target and is offered to them; a team
    lead (or an admin) may also take one another agent has."""
    now = now or utcnow()
    conv = session.scalar(select(Conversation).where(Conversation.id == conversation_id).with_for_update())
    if conv is None:
        raise NotFound(f"会话 {conversation_id} 不存在。(conversation {conversation_id} does not exist)")
    if conv.status == "closed":
        raise Conflict("会话已结束，无法接入。(the conversation is closed)")
    if conv.status == "assigned" and conv.assigned_agent_id == user.id:
        return conv
    if conv.status == "assigned" and user.role not in desk.SUPERVISORS:
        owner = queues.agent(session, conv.assigned_agent_id)
        raise Conflict(f"这个会话正由{owner.display_name if owner else '其他坐席'}接待，"
                       "如需接手请点“请求转交”。(the conversation is assigned to another agent)")
    profile = queues.lock_agent(session, user.id)
    giver = conv.assigned_agent_id if conv.status == "assigned" else None  # a lead steps in: no slot needed
    if giver is None and queues.free_slots(session, profile) <= 0 and not desk.offered_to(session, conv, user, now):
        raise Conflict("您的接待名额已满，请先结束一个会话再接入。(all your chat slots are in use)")
    conv.waiting_since = conv.waiting_since or now
    queues.assign(session, conv, user, now, "taken_by_lead" if giver else "taken")
    if giver is not None:
        queues.fill_free_slots(session, giver, now=now)
    return conv


def close_idle_conversations(session: Session, *, idle_minutes: int = 30,
                             now: datetime | None = None) -> int:
    """Close AI-only threads the customer left (no message for ``idle_minutes``): each gets CSAT."""
    now = now or utcnow()
    ids = session.scalars(select(Conversation.id).where(
        Conversation.status == "bot", Conversation.last_message_at <= now - timedelta(minutes=idle_minutes))
        .limit(5000)).all()
    for cid in ids:
        close_conversation(session, cid, by_user_id=None, now=now)
    return len(ids)


def messages_of(session: Session, conversation_id: int, *, after_id: int = 0, limit: int = 200) -> list[Message]:
    return list(session.scalars(select(Message).where(
        Message.conversation_id == conversation_id, Message.id > after_id)
        .order_by(Message.id).limit(limit)))


def history_of_customer(session: Session, customer_id: int, limit: int = 20) -> list[Conversation]:
    """Every thread of a customer across channels, newest first: the context that follows them."""
    return list(session.scalars(select(Conversation).where(Conversation.customer_id == customer_id)
                                .order_by(Conversation.id.desc()).limit(limit)))


# --- receiving and the bus ----------------------------------------------------------------------

def route_event(session: Session, event: Event) -> None:
    """The routing consumer's work for one ``message.received`` event."""
    process(session, MessageReceived.model_validate(event.payload).message_id)


def handle_message_received(event: Event) -> None:
    """Bus handler: route a message once in effect, however often the bus delivers the event."""
    session = session_factory()()
    try:
        with session.begin():
            if not mark_processed(session, ROUTING_CONSUMER, event.id):
                return
            route_event(session, event)
    finally:
        session.close()


@dataclass
class Received:
    ingested: Ingested
    event: Event | None
    processed: Processed | None = None


def _received_event(ingested: Ingested, channel: str) -> Event:
    return Event(MESSAGE_RECEIVED, {"message_id": ingested.first_customer_message.id,
                                    "conversation_id": ingested.conversation.id, "channel": channel},
                 customer_id=ingested.conversation.customer_id)


def seal_typed_pii(session: Session, inbound: Inbound) -> None:
    """Mask the ID, bank-card and mobile numbers typed into the message before anyone (staff, the
    assistant, a log) sees it; the text as typed is kept sealed by the field cipher."""
    from brokercare.security.service import (  # security.service loads late
        get_cipher,
        redact_typed_pii,
    )

    cipher = None
    for part in inbound.parts:
        redacted = redact_typed_pii(part.text)
        if redacted.changed:
            cipher = cipher or get_cipher(session)
            part.original_enc = part.original_enc or cipher.encrypt(part.text)
            part.text = redacted.text


def receive(session: Session, inbound: Inbound, *, now: datetime | None = None) -> Received:
    """Store an inbound message and route it.

    With the in-process bus (the embedded install) the message is routed in the same transaction
    as it is stored — one commit, the reply ready when this returns — and ``message.received`` is
    published afterwards for other domains. With Redis Streams the stored message is committed
    and published, and a routing worker (``brokercare service worker``) routes it exactly once in
    effect. Either way a routing failure never loses the message: it stays stored, unrouted, and
    ``brokercare service sla-check`` routes stranded messages.
    """
    bus = get_bus()
    in_process = isinstance(bus, InProcessBus)
    now = now or utcnow()
    seal_typed_pii(session, inbound)
    if (seen := delivered(session, inbound)) is not None:  # a channel's retry: answered as stored
        session.commit()
        return Received(seen, None)
    # Analysis, routing and the AI's reply are reads and CPU: worked out before the first write,
    # the database is locked only for the writes.
    pre = analyze(inbound.customer_text) if in_process and inbound.channel != "phone" else None
    planned = None
    if pre is not None:
        try:
            planned = plan(session, inbound, pre, now)
        except Exception:  # only a shortcut: the write path below decides afresh
            log.exception("planning message of %s failed; routing it after the write", inbound.channel)
            planned = None
    with write_gate(session):
        if planned is not None and not confirm(session, [planned])[0]:
            session.expire_all()  # the thread changed under the plan: route from what is stored
            planned = None
        try:
            ingested = ingest(session, inbound, now=now, planned=planned, analysis=pre, checked=True)
        except AlreadyDelivered:  # ingest rolled back: nothing of this delivery was written
            return Received(delivered(session, inbound), None)
        first = ingested.first_customer_message
        event = _received_event(ingested, inbound.channel)
        processed = None
        if in_process:
            try:
                with session.begin_nested():
                    processed = process(session, first.id, analysis=pre, now=now, fresh=True,
                                        planned=planned)
            except Exception:  # stored now, routed later by the stranded-message sweep
                log.exception("routing message %s failed; it stays stored for the sweep", first.id)
                processed = None
        session.commit()
    bus.publish(event)
    return Received(ingested, event, processed)


def receive_many(session: Session, inbounds: list[Inbound], *,
                 now: datetime | None = None) -> list[Received | Exception]:
    """Store and route a batch of messages that arrived together, with one commit (group commit).

    Logged-in customers' app and web messages to contacts the hub knows — the bulk of the traffic
    — are analysed together, planned, stored and routed in one transaction: one write lock, one
    ledger head update and one commit for the batch instead of one each. Every other message (a
    new contact, a retry, a second message of the same customer in the batch, a call, a CSAT
    answer), and the whole batch if any step of its shared write fails, goes through
    :func:`receive` one by one afterwards, so each message ends exactly as :func:`receive` would
    leave it. Returns, per message, its :class:`Received` or the error it met.
    """
    results: list[Received | Exception | None] = [None] * len(inbounds)
    for inbound in inbounds:
        seal_typed_pii(session, inbound)
    if isinstance(get_bus(), InProcessBus) and len(inbounds) > 1:
        together = batchable(session, inbounds)
        if len(together) > 1:
            for i, done in zip(together, _receive_together(session, [inbounds[i] for i in together],
                                                           now or utcnow()), strict=True):
                results[i] = done
    for i, inbound in enumerate(inbounds):
        if results[i] is None:
            try:
                results[i] = receive(session, inbound, now=now)
            except Exception as exc:  # answered to its own sender, the rest go on
                session.rollback()
                results[i] = exc
    return results


def _receive_together(session: Session, inbounds: list[Inbound], now: datetime) -> list[Received | None]:
    """The shared path of :func:`receive_many`; ``None`` for a message left to :func:`receive`."""
    out: list[Received | None] = [None] * len(inbounds)
    try:
        analyses = analyze_many([i.customer_text for i in inbounds])
    except Exception:  # one bad text fails the batch call; each is analysed alone then
        log.exception("batch analysis failed; the messages are received one by one")
        return out
    if analyses is None:
        return out
    by_customer, threads = contacts_and_threads(session, [plannable(i) for i in inbounds])
    _records = customers.get_customers(session, list(by_customer))  # held while the plans read them
    facts = contact_facts(session, [(c.id, c.customer_id) for c in by_customer.values()], now)
    plans: dict[int, Plan] = {}
    with assistant_prefetched(session, list(by_customer)):
        for k, inbound in enumerate(inbounds):
            contact = by_customer.get(plannable(inbound))
            if contact is None:
                continue
            try:
                plans[k] = plan_for(session, inbound, analyses[k], now, contact, threads.get(contact.id),
                                    facts[contact.id])
            except Exception:  # only a shortcut: receive() routes it from scratch
                log.exception("planning message of customer %s failed; received alone", contact.customer_id)
    if not plans:
        return out
    with write_gate(session):
        keep = [k for k, ok in zip(plans, confirm(session, list(plans.values())), strict=True) if ok]
        if not keep:
            session.rollback()
            session.expire_all()
            return out
        try:
            stored = _store_and_route(session, [(inbounds[k], analyses[k], plans[k]) for k in keep], now)
        except Exception:  # nothing of the batch was written; each message goes alone
            log.exception("storing a batch of %d messages failed; they are received one by one", len(keep))
            session.rollback()
            session.expire_all()
            return out
    bus = get_bus()
    for k, (ingested, processed) in zip(keep, stored, strict=True):
        event = _received_event(ingested, inbounds[k].channel)
        bus.publish(event)
        out[k] = Received(ingested, event, processed)
    return out


def _store_and_route(session: Session, batch: list[tuple[Inbound, Analysis, Plan]],
                     now: datetime) -> list[tuple[Ingested, Processed]]:
    """One transaction for a confirmed batch: the new threads, the messages, then routing; rows of
    a kind go to the database together (one multi-row INSERT where the driver allows) and the
    ledger takes every decision under one head update."""
    opened = []
    for inbound, analysis, p in batch:
        if p.conversation is None:
            p.conversation = Conversation(contact_id=p.contact.id, customer_id=p.contact.customer_id,
                                          channel=inbound.channel, status="bot", started_at=now,
                                          last_message_at=now)
            opened.append(p.conversation)
        # The thread's intent and mood go out with its time in one write, not a second UPDATE when routed.
        p.conversation.last_intent, p.conversation.last_emotion = analysis.intent, analysis.emotion
        if p.conversation not in opened:
            # Written even when unchanged: the flush sends UPDATEs of the same columns together
            # (one executemany), and a thread whose mood did not change would split the run.
            flag_modified(p.conversation, "last_intent")
            flag_modified(p.conversation, "last_emotion")
    if opened:
        session.add_all(opened)
        session.flush()
    ingested = [ingest(session, inbound, now=now, planned=p, analysis=analysis, checked=True, flush=False)
                for inbound, analysis, p in batch]
    session.flush()
    # Hand-offs first: what they still read (tickets, a manager's slots) flushes what is pending,
    # which would split the rows of the AI's answers; those wait for the one flush at the end.
    order = sorted(range(len(batch)), key=lambda j: not batch[j][2].hands_off)
    processed: list[Processed | None] = [None] * len(batch)
    skills = {p.decision.skill for _i, _a, p in batch if p.hands_off}
    with ledger_batch(session), queues.hand_off_batch(session, skills):
        for j in order:
            _inbound, analysis, p = batch[j]
            processed[j] = process(session, ingested[j].first_customer_message.id, analysis=analysis,
                                   now=now, fresh=True, planned=p)
        session.flush()
    session.commit()
    return list(zip(ingested, processed, strict=True))


def route_stranded(session: Session, *, older_than_s: int = 60, now: datetime | None = None,
                   limit: int = 500) -> int:
    """Route customer messages that were stored but never routed (a crashed process, a bug)."""
    now = now or utcnow()
    ids = session.scalars(
        select(Message.id).outerjoin(RoutingDecision, RoutingDecision.message_id == Message.id)
        .where(Message.direction == "in", Message.sender == "customer", RoutingDecision.id.is_(None),
               Message.created_at <= now - timedelta(seconds=older_than_s))
        .order_by(Message.id).limit(limit)).all()
    done = 0
    for mid in ids:
        msg = session.get(Message, mid)
        if msg.channel == "phone" and not (msg.meta or {}).get("call_id"):
            continue  # a later utterance of a call; the call is routed through its first one
        with session.begin_nested():
            process(session, mid, now=now)
        done += 1
    return done


def subscribe_routing(bus) -> None:
    """Register the routing consumer on a bus (the Redis worker calls this)."""
    bus.subscribe(MESSAGE_RECEIVED, handle_message_received, group=ROUTING_CONSUMER)
