"""Conversations: from an adapted inbound message to a routed, answered or handed-off thread.

Flow of one message: :func:`ingest` resolves who wrote (identity resolution across channels),
finds the contact's open conversation (one thread follows the customer from WeChat to the phone
to the app) and stores the message once, however often the channel retries it; :func:`receive`
commits that and publishes ``message.received`` on the bus; the routing consumer
(:func:`handle_message_received`, idempotent by event id) runs :func:`process`: analysis by the
assistant, the routing policy, the AI's reply or the hand-off with its summary, tickets, and the
ledger entry of the decision — all in one transaction.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brokercare.core.bus import Event, InProcessBus, get_bus
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import session_factory, utcnow, write_gate
from brokercare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brokercare.core.service import mark_processed
from brokercare.security.crypto import blind_index, get_cipher
from brokercare.security.models import User
from brokercare.service import peers, queues, sla
from brokercare.service.channels import Identity, Inbound
from brokercare.service.models import (
    Contact,
    ContactIdentity,
    Conversation,
    CsatSurvey,
    Message,
    OutboxMessage,
    RoutingDecision,
    Ticket,
)
from brokercare.service.routing import (
    Analysis,
    Decision,
    RoutingContext,
    decide,
    intent_names,
    load_policy,
)

log = logging.getLogger(__name__)

MESSAGE_RECEIVED = "message.received"
ROUTING_CONSUMER = "service.routing"
ASYNC_CHANNELS = ("email", "wechat", "phone")  # replies leave through the outbox
IDENTITY_ORDER = ("customer_id", "account_no", "wechat_openid", "phone", "email")
SKILL_ZH = {
    "trading": "交易", "margin": "两融", "funds": "基金理财", "complaints": "投诉处理",
    "tax": "税务", "legal": "法律事务", "account_security": "账户安全", "account_service": "账户服务",
}
TIER_ZH = {"vip": "VIP", "potential": "潜力客户", "mass": "大众客户", "long_tail": "长尾客户",
           "prospect": "潜在客户"}
EMOTION_ZH = {"calm": "平静", "anxious": "焦虑", "angry": "愤怒", "disappointed": "失望",
              "satisfied": "满意"}


class MessageReceived(BaseModel):
    """Payload of the hub's ``message.received`` events (checked by the routing consumer; the
    type stays free-form on the bus so other publishers' events of that name are not refused)."""

    message_id: int
    conversation_id: int
    channel: str


# --- identity resolution --------------------------------------------------------------------------

def normalise_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value or "")
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def _identity_key(kind: str, value: str) -> str:
    if kind == "phone":
        return blind_index(normalise_phone(value))
    if kind == "email":
        return blind_index(value.strip().lower())
    return value.strip()


def _customer_for(session: Session, ident: Identity) -> int | None:
    """The customer an identity proves, if the channel verified it (caller ids and From headers
    can be forged; an unverified one never opens a customer's context)."""
    from brokercare.accounts.models import Account
    from brokercare.customers.models import Customer

    if not ident.verified:
        return None
    if ident.kind == "customer_id":
        known = session.scalar(select(Contact.customer_id).where(Contact.customer_id == int(ident.value)))
        return known or session.scalar(select(Customer.id).where(Customer.id == int(ident.value)))
    if ident.kind == "account_no":
        return session.scalar(select(Account.customer_id).where(Account.account_no == ident.value.strip()))
    if ident.kind == "wechat_openid":
        return session.scalar(select(Customer.id).where(Customer.wechat_openid == ident.value.strip()))
    if ident.kind == "phone":
        return session.scalar(select(Customer.id).where(
            Customer.phone_hash == blind_index(normalise_phone(ident.value)),
            Customer.phone_verified.is_(True)).order_by(Customer.id).limit(1))
    if ident.kind == "email":
        return session.scalar(select(Customer.id).where(
            func.lower(Customer.email) == ident.value.strip().lower()).order_by(Customer.id).limit(1))
    return None


def _label(identities: list[Identity], display_name: str | None) -> str:
    if display_name:
        return display_name[:64]
    for ident in identities:
        if ident.kind == "wechat_openid":
            return f"微信用户 {ident.value[-6:]}"
        if ident.kind == "phone":
            p = normalise_phone(ident.value)
            return f"来电 {p[:3]}****{p[-4:]}" if len(p) >= 7 else "来电用户"
        if ident.kind == "email":
            return f"邮件 {ident.value.split('@')[-1]}"
    return "访客"


def _contact_of_customer(session: Session, customer_id: int, now: datetime) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.customer_id == customer_id))
    if contact is None:
        try:
            with session.begin_nested():
                contact = Contact(customer_id=customer_id, kind="customer", label=f"客户 {customer_id}",
                                  created_at=now, last_seen_at=now)
                session.add(contact)
        except IntegrityError:  # another message of the same customer created it meanwhile
            contact = session.scalar(select(Contact).where(Contact.customer_id == customer_id))
    return contact


def _merge(session: Session, prospect: Contact, into: Contact) -> None:
    """A prospect turned out to be a known customer: their history follows them."""
    for model in (Conversation, Ticket, CsatSurvey):
        session.execute(model.__table__.update().where(model.contact_id == prospect.id)
                        .values(contact_id=into.id, customer_id=into.customer_id))
    from brokercare.service.models import Feedback

    session.execute(Feedback.__table__.update().where(Feedback.contact_id == prospect.id)
                    .values(contact_id=into.id, customer_id=into.customer_id))
    session.execute(Message.__table__.update().where(Message.contact_id == prospect.id)
                    .values(contact_id=into.id))
    session.execute(ContactIdentity.__table__.update().where(ContactIdentity.contact_id == prospect.id)
                    .values(contact_id=into.id))
    # Two open threads now belong to one customer: keep the newest open, close the older.
    open_convs = session.scalars(select(Conversation).where(
        Conversation.contact_id == into.id, Conversation.status != "closed")
        .order_by(Conversation.last_message_at.desc())).all()
    for older in open_convs[1:]:
        if older.status == "bot":
            older.status, older.closed_at = "closed", utcnow()
    session.delete(prospect)
    session.flush()


def resolve_contact(session: Session, identities: list[Identity], *, display_name: str | None = None,
                    now: datetime | None = None) -> Contact:
    """The contact behind these identities; an unknown sender becomes a prospect, never an error."""
    now = now or utcnow()
    if not identities:
        raise ValidationFailed("a message needs at least one sender identity")
    ordered = sorted(identities, key=lambda i: IDENTITY_ORDER.index(i.kind) if i.kind in IDENTITY_ORDER else 99)
    contact: Contact | None = None
    if ordered[0].kind == "customer_id" and ordered[0].verified and len(ordered) == 1:
        # A logged-in customer (app, web): one read on the hot path when their contact exists.
        contact = session.scalar(select(Contact).where(Contact.customer_id == int(ordered[0].value)))
        if contact is not None:
            if now - contact.last_seen_at > timedelta(minutes=5):
                contact.last_seen_at = now
            return contact
    for ident in ordered:
        customer_id = _customer_for(session, ident)
        if customer_id is not None:
            contact = _contact_of_customer(session, customer_id, now)
            break
    known = {}
    for ident in ordered:
        if ident.kind == "customer_id":
            continue
        row = session.scalar(select(ContactIdentity).where(
            ContactIdentity.kind == ident.kind, ContactIdentity.key == _identity_key(ident.kind, ident.value)))
        if row is not None:
            known[ident] = row
    if contact is None:
        for row in known.values():
            contact = session.get(Contact, row.contact_id)
            break
    if contact is None:
        contact = Contact(customer_id=None, kind="prospect", label=_label(identities, display_name),
                          created_at=now, last_seen_at=now)
        session.add(contact)
        session.flush()
    for row in known.values():
        if row.contact_id != contact.id:
            other = session.get(Contact, row.contact_id)
            if other is not None and other.customer_id is None and contact.customer_id is not None:
                _merge(session, other, contact)
    cipher = None
    for ident in ordered:
        if ident in known:
            if ident.verified and not known[ident].verified:
                known[ident].verified = True
            continue
        if ident.kind == "customer_id":
            continue
        if ident.kind in ("phone", "email"):
            cipher = cipher or get_cipher(session)
            enc = cipher.encrypt(normalise_phone(ident.value) if ident.kind == "phone" else ident.value.lower())
        else:
            enc = None
        try:
            with session.begin_nested():
                session.add(ContactIdentity(contact_id=contact.id, kind=ident.kind,
                                            key=_identity_key(ident.kind, ident.value),
                                            value_enc=enc, verified=ident.verified, created_at=now))
        except IntegrityError:
            continue  # recorded by a concurrent message of the same sender
    contact.last_seen_at = now
    session.flush()
    return contact


# --- ingest ---------------------------------------------------------------------------------------

@dataclass
class Ingested:
    conversation: Conversation
    messages: list[Message]
    duplicate: bool = False

    @property
    def first_customer_message(self) -> Message:
        return next(m for m in self.messages if m.sender == "customer")


def _open_conversation(session: Session, contact: Contact, channel: str, now: datetime) -> Conversation:
    conv = session.scalar(
        select(Conversation).where(Conversation.contact_id == contact.id, Conversation.status != "closed")
        .order_by(Conversation.id.desc()).limit(1)
    )
    if conv is None:
        conv = Conversation(contact_id=contact.id, customer_id=contact.customer_id, channel=channel,
                            status="bot", started_at=now, last_message_at=now)
        session.add(conv)
        session.flush()
    return conv


def ingest(session: Session, inbound: Inbound, *, now: datetime | None = None,
           planned: Plan | None = None, analysis: Analysis | None = None,
           checked: bool = False, flush: bool = True) -> Ingested:
    """Store an inbound message once (a channel's retry is recognised by its external id) in the
    sender's open thread; ``planned``: the contact and thread were already read for the plan;
    ``analysis``: stored with the message in the same write; ``flush=False``: the caller flushes
    a whole batch of messages at once (and meets a racing duplicate there).

    A delivery seen before (same channel and external id) comes back marked ``duplicate``. Two
    deliveries racing each other meet at the unique constraint: the loser's transaction is rolled
    back whole and :class:`AlreadyDelivered` raised (no savepoint per message for that rare race),
    so call this first in a transaction, as :func:`receive` does (``checked``: it already looked
    for an earlier delivery)."""
    now = now or utcnow()
    if not checked and (seen := delivered(session, inbound)) is not None:
        return seen
    if not inbound.customer_text:
        raise ValidationFailed("消息内容不能为空")
    if planned is not None:
        contact, conv = planned.contact, planned.conversation
        if now - contact.last_seen_at > timedelta(minutes=5):
            contact.last_seen_at = now
        if conv is None:
            conv = _open_conversation(session, contact, inbound.channel, now)
    else:
        contact = resolve_contact(session, inbound.identities, display_name=inbound.display_name, now=now)
        conv = _open_conversation(session, contact, inbound.channel, now)
    conv.channel = inbound.channel
    conv.last_message_at = now
    conv.customer_id = contact.customer_id
    if analysis is not None:
        conv.last_intent, conv.last_emotion = analysis.intent, analysis.emotion
    stored = []
    first_customer = next(i for i, p in enumerate(inbound.parts) if p.speaker == "customer")
    for i, part in enumerate(inbound.parts):
        ext = None
        if inbound.external_id:
            ext = inbound.external_id if i == 0 else f"{inbound.external_id}#{i}"
        is_customer = part.speaker == "customer"
        meta = dict(inbound.meta) if i == first_customer else {}
        if inbound.subject and i == first_customer:
            meta["subject"] = inbound.subject
        stored.append(Message(
            conversation_id=conv.id, contact_id=contact.id, direction="in" if is_customer else "out",
            sender="customer" if is_customer else "agent", channel=inbound.channel, external_id=ext,
            text=part.text, text_enc=part.original_enc, meta=meta or None, sent_at=part.at, created_at=now,
            analysis=analysis.to_dict() if analysis is not None and i == first_customer else None,
        ))
    session.add_all(stored)
    if not flush:
        return Ingested(conv, stored)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        if inbound.external_id and delivered(session, inbound) is not None:
            raise AlreadyDelivered(inbound.external_id) from exc
        raise
    return Ingested(conv, stored)


class AlreadyDelivered(Exception):
    """A channel delivered a message again (a retry, or the same push twice at once)."""


def delivered(session: Session, inbound: Inbound) -> Ingested | None:
    """The stored message (and its parts) of an earlier delivery of ``inbound``, if any."""
    if not inbound.external_id:
        return None
    existing = session.scalar(select(Message).where(
        Message.channel == inbound.channel, Message.external_id == inbound.external_id))
    if existing is None:
        return None
    conv = session.get(Conversation, existing.conversation_id)
    msgs = list(session.scalars(select(Message).where(
        Message.conversation_id == conv.id, Message.channel == inbound.channel,
        Message.external_id.like(inbound.external_id + "%")).order_by(Message.id)))
    return Ingested(conv, msgs, duplicate=True)


# --- routing context and hand-off summary ---------------------------------------------------------

@dataclass
class ContactFacts:
    """What the routing context knows of a contact from the database, read for a whole batch of
    messages at once: tier and manager, open tickets, and the contact sessions of the last 7 days
    (distinct channel and Beijing date of inbound messages)."""

    tier: str = "prospect"
    manager_id: int | None = None
    open_tickets: int = 0
    sessions_7d: frozenset = frozenset()

    def contacts_7d(self, now: datetime, incoming: str | None = None) -> int:
        """``incoming``: the channel of a message not stored yet, counted as of ``now``."""
        seen = set(self.sessions_7d)
        if incoming:
            seen.add((incoming, now.astimezone(SHANGHAI).date().isoformat()))
        return max(1, len(seen))


def _beijing_date(session: Session, column):  # noqa: ANN001, ANN202
    """SQL for the Beijing calendar date of a UTC timestamp column (China keeps no summer time)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM-DD")
    return func.date(column, "+8 hours")


def contact_facts(session: Session, contacts: list[tuple[int, int | None]], now: datetime) -> dict[int, ContactFacts]:
    """:class:`ContactFacts` of each ``(contact_id, customer_id)``, in three reads however many."""
    from brokercare.service.tickets import open_ticket_counts

    contact_ids = list({c for c, _ in contacts})
    tiers = peers.tiers_and_managers(session, [cust for _, cust in contacts if cust is not None])
    tickets = open_ticket_counts(session, contact_ids)
    sessions: dict[int, set] = {c: set() for c in contact_ids}
    day = _beijing_date(session, Message.sent_at)
    for contact_id, channel, date in session.execute(
            select(Message.contact_id, Message.channel, day).distinct().where(
                Message.contact_id.in_(contact_ids), Message.direction == "in",
                Message.sent_at >= now - timedelta(days=7))):
        sessions[contact_id].add((channel, str(date)))
    out = {}
    for contact_id, customer_id in contacts:
        tier, manager_id = tiers.get(customer_id, ("prospect", None)) if customer_id else ("prospect", None)
        out[contact_id] = ContactFacts(tier, manager_id, tickets.get(contact_id, 0),
                                       frozenset(sessions[contact_id]))
    return out


class _Holdings:
    """The customer's positions, read only if a rule or a hand-off summary needs them."""

    def __init__(self, session: Session, customer_id: int | None) -> None:
        self.session, self.customer_id, self._rows = session, customer_id, None

    def __call__(self) -> list[dict]:
        if self._rows is None:
            self._rows = peers.holdings(self.session, self.customer_id)
        return self._rows


def _emergency(session: Session, analysis: Analysis, text: str, customer_id: int | None,
               held: _Holdings) -> str | None:
    policy = load_policy()
    if customer_id is None:
        return None
    if analysis.intent in policy.emergency.intents:
        return "account_frozen"
    if analysis.intent in ("account_frozen", "login_security") and peers.account_frozen(session, customer_id):
        return "account_frozen"
    if any(w in text for w in policy.emergency.limit_down_words):
        named = set(analysis.symbols())
        for h in held():
            if h["symbol"] in named or (h.get("name") and h["name"] in text):
                return "limit_down"
    return None


def build_context(session: Session, conv: Conversation, analysis: Analysis, text: str,
                  now: datetime, held: _Holdings, *, incoming: str | None = None,
                  facts: ContactFacts | None = None) -> RoutingContext:
    """The routing inputs; ``incoming``: the channel of a message about to be stored (planned
    before the write), else the message is already in the thread; ``facts``: read already for
    a batch (:func:`contact_facts`)."""
    if facts is None:
        facts = contact_facts(session, [(conv.contact_id, conv.customer_id)], now)[conv.contact_id]
    reason = _emergency(session, analysis, text, conv.customer_id, held)
    return RoutingContext(
        tier=facts.tier,
        open_tickets=facts.open_tickets,
        contacts_7d=facts.contacts_7d(now, incoming),
        business_hours=load_policy().business_hours.is_open(now),
        emergency=reason is not None,
        emergency_reason=reason,
        has_manager=facts.manager_id is not None,
        channel=incoming or conv.channel,
    )


def handoff_summary(session: Session, conv: Conversation, analysis: Analysis, ctx: RoutingContext,
                    held: list[dict], text: str) -> dict:
    """What the human needs to see at once: intent, emotion, holdings touched, what the AI said."""
    recent = list(session.scalars(select(Message).where(Message.conversation_id == conv.id)
                                  .order_by(Message.id.desc()).limit(30)))
    ai_said = [m.text for m in recent if m.sender == "ai"][:3][::-1]
    customer_said = [m.text for m in recent if m.sender == "customer"][:3][::-1]
    channels = sorted({m.channel for m in recent})
    named = set(analysis.symbols())
    all_text = text + "".join(customer_said)
    touched = [h for h in held if h["symbol"] in named or (h.get("name") and h["name"] in all_text)]
    if not touched and analysis.intent in ("position_diagnosis", "margin_ratio", "margin_liquidation",
                                            "pnl_query", "robo_advice"):
        touched = sorted(held, key=lambda h: float(h.get("market_value") or 0), reverse=True)[:5]
    open_tickets = session.scalars(select(Ticket.ticket_no).where(
        Ticket.contact_id == conv.contact_id, Ticket.status.in_(("open", "in_progress", "waiting_on_customer")))).all()
    intent_zh = intent_names().get(analysis.intent, analysis.intent)
    emotion_zh = EMOTION_ZH.get(analysis.emotion, analysis.emotion)
    parts = [
        f"{TIER_ZH.get(ctx.tier, ctx.tier)}经{'、'.join(channels) or conv.channel}渠道咨询「{intent_zh}」"
        f"（置信度 {analysis.confidence:.2f}），情绪{emotion_zh}（强度 {analysis.intensity:.1f}）。",
    ]
    if ctx.emergency_reason:
        parts.append("紧急情况：" + {"account_frozen": "账户冻结", "limit_down": "持仓跌停"}[ctx.emergency_reason] + "。")
    if touched:
        parts.append("涉及持仓：" + "；".join(
            f"{h.get('name') or ''} {h['symbol']} {h['quantity']} 股/份"
            + (f"，市值约 {h['market_value']} 元" if h.get("market_value") else "") for h in touched) + "。")
    if ai_said:
        parts.append("AI 已答复：" + ai_said[-1][:120] + ("…" if len(ai_said[-1]) > 120 else ""))
    else:
        parts.append("AI 尚未答复（直接转人工）。")
    if open_tickets:
        parts.append(f"未结工单：{', '.join(open_tickets)}。")
    if ctx.contacts_7d > 1:
        parts.append(f"近 7 天第 {ctx.contacts_7d} 次联系。")
    return {
        "intent": analysis.intent, "intent_zh": intent_zh, "confidence": round(analysis.confidence, 3),
        "emotion": analysis.emotion, "intensity": round(analysis.intensity, 2), "tier": ctx.tier,
        "channels": channels, "holdings_touched": touched, "ai_said": ai_said,
        "customer_said": customer_said, "open_tickets": list(open_tickets),
        "contacts_7d": ctx.contacts_7d, "emergency": ctx.emergency_reason, "text": "".join(parts),
    }


# --- processing -----------------------------------------------------------------------------------

@dataclass
class Processed:
    message: Message
    conversation: Conversation
    decision: Decision | None
    reply: Message | None = None
    ticket: Ticket | None = None
    agent: User | None = None
    already: bool = False


_CSAT_REPLY = re.compile(r"^\s*([1-5])\s*(分|星)?\s*[。.!！]?\s*$")


def _answer_pending_csat(session: Session, msg: Message, now: datetime) -> bool:
    match = _CSAT_REPLY.match(msg.text)
    if not match:
        return False
    survey = session.scalar(select(CsatSurvey).where(
        CsatSurvey.contact_id == msg.contact_id, CsatSurvey.responded_at.is_(None),
        CsatSurvey.sent_at >= now - timedelta(days=3)).order_by(CsatSurvey.id.desc()).limit(1))
    if survey is None:
        return False
    from brokercare.service.csat import record_response

    record_response(session, survey.token, int(match.group(1)), channel=msg.channel, now=now)
    return True


def analyze(text: str) -> Analysis | None:
    assistant = peers.assistant()
    if assistant is None or not hasattr(assistant, "analyze"):
        return None
    return Analysis.of(assistant.analyze(text))


#: Hand-off reasons of the assistant that are about routing (the policy already weighed mood and
#: confidence), not about a problem the AI failed to solve: they get a person but no ticket.
ROUTING_HANDOFF_REASONS = frozenset({"angry_customer", "low_confidence"})
#: The assistant declined the request (a guaranteed return, a stock tip, another customer's data…):
#: the customer is offered a person, who can say what may be said (a licensed adviser), and a
#: message the guard took for an attempt by mistake (about 2 % of ordinary ones) still gets help.
DECLINED = "declined_request"


def _ai_reply(session: Session, customer_id: int | None, channel: str, text: str,
              analysis: Analysis | None = None) -> tuple[str | None, bool, str | None]:
    """The assistant's answer, whether it asks for a human, and why.

    Without an assistant, or for a sender it cannot serve (a prospect with no customer record),
    there is no answer and a person takes over.
    """
    assistant = peers.assistant()
    if assistant is None or not hasattr(assistant, "reply"):
        return None, True, "assistant_unavailable"
    if customer_id is None:
        return None, True, "prospect"
    kwargs = {"channel": channel}
    if analysis is not None and analysis.original is not None:
        kwargs["analysis"] = analysis.original
    reply = assistant.reply(session, customer_id, text, **kwargs)
    handoff = bool(getattr(reply, "handoff", False))
    return (getattr(reply, "text", None), handoff,
            DECLINED if getattr(reply, "declined", None) and not handoff else getattr(reply, "handoff_reason", None))


@dataclass
class Plan:
    """Routing worked out before the message is stored: the context, the decision and the AI's
    reply are reads and CPU only, so the write transaction that follows is short (SQLite has one
    writer at a time; every millisecond spent under its lock is a millisecond the other worker
    process waits)."""

    contact: Contact
    conversation: Conversation | None  # None: the message opens a new thread
    ctx: RoutingContext
    decision: Decision
    held: _Holdings
    reply: tuple[str | None, bool, str | None] | None = None
    customer: Any = None  # kept referenced: the session's identity map holds objects weakly
    status: str = "bot"  # of the thread when planned: "bot", or "waiting"/"assigned" (with a person)


def plannable(inbound: Inbound) -> int | None:
    """The customer id of a message that can be planned before it is stored: a logged-in
    customer writing in the app or on the web (not a call, not an answer to a CSAT survey)."""
    idents = inbound.identities
    if (len(idents) != 1 or idents[0].kind != "customer_id" or not idents[0].verified
            or inbound.channel == "phone" or _CSAT_REPLY.match(inbound.customer_text)):
        return None
    return int(idents[0].value)


def plan(session: Session, inbound: Inbound, analysis: Analysis, now: datetime) -> Plan | None:
    """The plan for a logged-in customer's message; ``None`` when the message must be stored
    first (a new contact, a CSAT answer, a call) — :func:`process` then works it out after the
    write, as it always can."""
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
    customer = peers.customer(session, conv.customer_id)
    held = _Holdings(session, conv.customer_id)
    ctx = build_context(session, conv, analysis, inbound.customer_text, now, held,
                        incoming=inbound.channel, facts=facts)
    status = conv.status if planned_conv is not None else "bot"
    if status != "bot":
        return Plan(contact, planned_conv, ctx, Decision("human", "already_with_human", conv.skill,
                                                         conv.priority), held, None, customer, status)
    decision = decide(analysis, ctx)
    reply = None
    if decision.outcome in ("ai_answer", "ai_offer_human"):
        reply = _ai_reply(session, conv.customer_id, inbound.channel, inbound.customer_text, analysis)
    return Plan(contact, planned_conv, ctx, decision, held, reply, customer, status)


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


def process(session: Session, message_id: int, *, analysis: Analysis | None = None,
            now: datetime | None = None, fresh: bool = False, planned: Plan | None = None) -> Processed:
    """Analyse, route and act on one stored inbound message (idempotent per message;
    ``fresh``: stored in this very transaction, so it cannot have been routed yet; ``planned``:
    the routing worked out before the write and :func:`confirm`-ed under the write lock; inside
    :func:`peers.ledger_batch` the reply and the decision are left to the batch's flush)."""
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
    if _answer_pending_csat(session, msg, now):
        reply = _say(session, conv, "感谢您的评价，我们会持续改进服务！", sender="ai", now=now)
        decision = Decision("ai_answer", "csat_response", None, 9)
        _record(session, msg, conv, decision, Analysis((("feedback", 1.0),)), RoutingContext(), None, now)
        return Processed(msg, conv, decision, reply)

    analysis = analysis or analyze(msg.text)
    assistant_missing = analysis is None
    analysis = analysis or Analysis((("out_of_scope", 0.0),))
    if msg.analysis != (stored := analysis.to_dict()):
        msg.analysis = stored
    if (conv.last_intent, conv.last_emotion) != (analysis.intent, analysis.emotion):
        conv.last_intent, conv.last_emotion = analysis.intent, analysis.emotion
    held = planned.held if planned else _Holdings(session, conv.customer_id)
    ctx = planned.ctx if planned else build_context(session, conv, analysis, msg.text, now, held)

    if conv.status in ("waiting", "assigned"):
        decision = Decision("human", "already_with_human", conv.skill, conv.priority)
        _record(session, msg, conv, decision, analysis, ctx, None, now)
        return Processed(msg, conv, decision, agent=session.get(User, conv.assigned_agent_id)
                         if conv.assigned_agent_id else None)
    if assistant_missing:
        decision = Decision("human", "assistant_unavailable", load_policy().default_skill, 4)
    else:
        decision = planned.decision if planned else decide(analysis, ctx)

    reply_msg: Message | None = None
    source = "complaint" if analysis.intent == "complaint" else (
        "emergency" if ctx.emergency else ("after_hours" if decision.after_hours else "ai_unresolved"))
    if decision.outcome in ("ai_answer", "ai_offer_human"):
        text, wants_human, why = (planned.reply if planned and planned.reply else
                                  _ai_reply(session, conv.customer_id, conv.channel, msg.text, analysis))
        if why == DECLINED and decision.outcome == "ai_answer":
            decision = Decision("ai_offer_human", f"{decision.rule}+{DECLINED}", decision.skill,
                                decision.priority, decision.ticket, decision.after_hours,
                                decision.reasons + (f"assistant={DECLINED}",))
        if text:
            if decision.outcome == "ai_offer_human" and not decision.after_hours:
                text += "\n\n如需人工服务，请回复“人工”，我们马上为您转接。"
            elif decision.after_hours:
                text += "\n\n人工服务时间为交易日 8:30–20:00，我们已为您登记，工作人员上班后会第一时间联系您。"
            reply_msg = _say(session, conv, text, sender="ai", now=now, flush=not peers.batching(session))
        if wants_human and not decision.after_hours:
            unresolved = why not in ROUTING_HANDOFF_REASONS and why != "prospect"
            decision = Decision("human", f"{decision.rule}+ai_handoff", decision.skill,
                                min(decision.priority, 4),
                                ticket=decision.ticket or (True if unresolved else None),
                                reasons=decision.reasons + (f"assistant_handoff={why}",))
            source = "ai_unresolved"

    ticket = None
    if decision.ticket:
        ticket = _open_ticket(session, conv, msg, analysis, ctx, decision, source, now)
    agent = None
    if decision.outcome == "human":
        conv.skill = decision.skill
        conv.priority = decision.priority
        conv.preferred_agent_id = peers.customer_manager_id(session, conv.customer_id)
        conv.handoff_summary = handoff_summary(session, conv, analysis, ctx, held(), msg.text)
        agent = queues.try_assign(session, conv, now=now)
        if agent is None:
            skill_zh = SKILL_ZH.get(decision.skill or "", "人工")
            reply_msg = _say(session, conv, f"您好，已为您转接{skill_zh}专席，当前排队中，请稍候。",
                             sender="system", now=now)
        if ticket is not None and ticket.assignee_id is None and agent is not None and \
                decision.skill in (agent.skills or []):
            ticket.assignee_id = agent.id
    if analysis.intent == "feedback" or (analysis.intent == "complaint" and decision.outcome != "human"):
        from brokercare.service.feedback import record_feedback

        record_feedback(session, contact_id=conv.contact_id, channel=msg.channel, text=msg.text,
                        analysis=analysis, ticket_id=ticket.id if ticket else None, now=now)
    _record(session, msg, conv, decision, analysis, ctx, ticket, now, agent)
    return Processed(msg, conv, decision, reply_msg, ticket, agent)


def _open_ticket(session: Session, conv: Conversation, msg: Message, analysis: Analysis,
                 ctx: RoutingContext, decision: Decision, source: str, now: datetime) -> Ticket:
    from brokercare.service.tickets import OPEN_STATES, create_ticket

    same = session.scalar(select(Ticket).where(
        Ticket.conversation_id == conv.id, Ticket.category == analysis.intent,
        Ticket.status.in_(OPEN_STATES)).limit(1))
    if same is not None:
        from brokercare.service.models import TicketEvent

        session.add(TicketEvent(ticket_id=same.id, kind="comment", note=f"客户补充：{msg.text}",
                                created_at=now))
        return same
    priority = decision.ticket if isinstance(decision.ticket, str) else sla.ticket_priority(
        analysis.intent, ctx.tier, ctx.emergency)
    if priority == "emergency" and ctx.tier not in ("vip", "potential"):
        priority = "urgent"
    name = intent_names().get(analysis.intent, analysis.intent)
    return create_ticket(
        session, contact_id=conv.contact_id, subject=f"{name}：{msg.text[:40]}",
        description=msg.text, category=analysis.intent, department=decision.skill,
        priority=priority, source=source, channel=msg.channel, conversation_id=conv.id, now=now,
    )


def _record(session: Session, msg: Message, conv: Conversation, decision: Decision,
            analysis: Analysis, ctx: RoutingContext, ticket: Ticket | None, now: datetime,
            agent: User | None = None) -> None:
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
    peers.ledger_append(session, "routing.decision", f"message:{msg.id}", {
        "conversation_id": conv.id, "customer_id": conv.customer_id, "outcome": decision.outcome,
        "rule": decision.rule, "skill": decision.skill, "priority": decision.priority,
        "agent_id": agent.id if agent else None, "ticket_id": ticket.id if ticket else None,
        "inputs": inputs, "at": now.isoformat(),
    })
    if not peers.batching(session):
        session.flush()


def _process_call(session: Session, msg: Message, conv: Conversation, analysis: Analysis | None,
                  now: datetime) -> Processed:
    """A finished call was handled by a person; record its analysis and follow-up ticket."""
    customer_text = "\n".join(session.scalars(select(Message.text).where(
        Message.conversation_id == conv.id, Message.channel == "phone", Message.sender == "customer",
        Message.external_id.like(f"call:{(msg.meta or {}).get('call_id', '')}%")).order_by(Message.id)))
    analysis = analysis or analyze(customer_text) or Analysis((("out_of_scope", 0.0),))
    msg.analysis = analysis.to_dict()
    conv.last_intent, conv.last_emotion = analysis.intent, analysis.emotion
    held = _Holdings(session, conv.customer_id)
    ctx = build_context(session, conv, analysis, customer_text, now, held)
    disposition = (msg.meta or {}).get("disposition", "resolved")
    needs_ticket = disposition in ("unresolved", "callback") or analysis.intent == "complaint"
    decision = Decision("human", "call_centre_handled",
                        "complaints" if analysis.intent == "complaint" else
                        (peers_skill(analysis.intent)), 5, ticket=True if needs_ticket else None)
    ticket = None
    if needs_ticket:
        ticket = _open_ticket(session, conv, msg, analysis, ctx, decision,
                              "complaint" if analysis.intent == "complaint" else "phone", now)
    if analysis.intent in ("feedback", "complaint"):
        from brokercare.service.feedback import record_feedback

        record_feedback(session, contact_id=conv.contact_id, channel="phone", text=customer_text,
                        analysis=analysis, ticket_id=ticket.id if ticket else None, now=now)
    _record(session, msg, conv, decision, analysis, ctx, ticket, now)
    if disposition == "resolved" and conv.status == "bot":
        close_conversation(session, conv.id, by_user_id=None, now=now)
    return Processed(msg, conv, decision, None, ticket)


def peers_skill(intent: str) -> str:
    from brokercare.service.routing import intent_skills

    return intent_skills().get(intent) or load_policy().default_skill


# --- saying things --------------------------------------------------------------------------------

def _say(session: Session, conv: Conversation, text: str, *, sender: str, now: datetime,
         agent_id: int | None = None, passive: bool = False, flush: bool = True) -> Message:
    msg = Message(conversation_id=conv.id, contact_id=conv.contact_id, direction="out", sender=sender,
                  agent_id=agent_id, channel=conv.channel, text=text, sent_at=now, created_at=now)
    session.add(msg)
    outbox = (conv.channel in ASYNC_CHANNELS and sender in ("agent", "system") and not passive
              or conv.channel in ("email", "phone") and sender == "ai")
    if flush or outbox:
        session.flush()
    if outbox:
        _outbox(session, conv.contact_id, conv.channel, "reply", text, now,
                conversation_id=conv.id, message_id=msg.id)
    return msg


def _address(session: Session, contact_id: int, channel: str) -> dict:
    kind = {"wechat": "wechat_openid", "email": "email", "phone": "phone"}.get(channel)
    address: dict = {"contact_id": contact_id}
    if kind:
        ident = session.scalar(select(ContactIdentity).where(
            ContactIdentity.contact_id == contact_id, ContactIdentity.kind == kind)
            .order_by(ContactIdentity.verified.desc(), ContactIdentity.id.desc()).limit(1))
        if ident is not None:
            address[kind] = ident.key if kind == "wechat_openid" else None
            if ident.value_enc:
                address[f"{kind}_enc"] = ident.value_enc
    return address


def _outbox(session: Session, contact_id: int, channel: str, kind: str, text: str, now: datetime,
            *, conversation_id: int | None = None, message_id: int | None = None,
            subject: str | None = None, dedupe_key: str | None = None) -> OutboxMessage:
    address = _address(session, contact_id, channel)
    address.update({"conversation_id": conversation_id, "message_id": message_id})
    row = OutboxMessage(channel="sms" if channel == "phone" else channel, kind=kind,
                        contact_id=contact_id, address=address, subject=subject, body=text,
                        dedupe_key=dedupe_key, created_at=now)
    session.add(row)
    session.flush()
    return row


def send_to_contact(session: Session, contact_id: int, channel: str, text: str, *, kind: str,
                    conversation_id: int | None = None, agent_id: int | None = None,
                    subject: str | None = None, dedupe_key: str | None = None,
                    now: datetime | None = None) -> OutboxMessage | None:
    """Tell a contact something on a channel: in the thread for app/web, through the outbox
    for channels the hub must push to (WeChat, email, SMS after a call)."""
    now = now or utcnow()
    if conversation_id is not None:
        conv = session.get(Conversation, conversation_id)
        if conv is not None:
            session.add(Message(conversation_id=conv.id, contact_id=contact_id, direction="out",
                                sender="agent" if agent_id else "system", agent_id=agent_id,
                                channel=channel, text=text, sent_at=now, created_at=now,
                                meta={"kind": kind}))
    if channel in ASYNC_CHANNELS or conversation_id is None:
        return _outbox(session, contact_id, channel, kind, text, now,
                       conversation_id=conversation_id, subject=subject, dedupe_key=dedupe_key)
    session.flush()
    return None


# --- staff actions ----------------------------------------------------------------------------------

def get_conversation(session: Session, conversation_id: int) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conv


def _may_act(user: User, conv: Conversation) -> None:
    if user.role in ("team_lead", "admin"):
        return
    if conv.assigned_agent_id != user.id:
        raise PermissionDenied("this conversation is assigned to another agent")


def agent_reply(session: Session, conversation_id: int, user: User, text: str, *,
                now: datetime | None = None) -> Message:
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("reply text is empty")
    conv = get_conversation(session, conversation_id)
    if conv.status == "closed":
        raise Conflict("the conversation is closed; the customer's next message opens a new one")
    if conv.status != "assigned":
        raise Conflict("take the conversation from the queue before replying")
    _may_act(user, conv)
    msg = _say(session, conv, text, sender="agent", agent_id=user.id, now=now)
    if conv.first_human_response_at is None:
        conv.first_human_response_at = now
    for ticket_id in session.scalars(select(Ticket.id).where(
            Ticket.conversation_id == conv.id, Ticket.first_responded_at.is_(None))):
        ticket = session.get(Ticket, ticket_id)
        ticket.first_responded_at = now
        sla.meet(session, "ticket", ticket_id, "first_response", now)
    session.flush()
    return msg


def close_conversation(session: Session, conversation_id: int, *, by_user_id: int | None,
                       now: datetime | None = None, user: User | None = None) -> Conversation:
    """Close a thread, ask the customer for CSAT on the channel they used, refill the slot."""
    now = now or utcnow()
    conv = get_conversation(session, conversation_id)
    if user is not None:
        _may_act(user, conv) if conv.status == "assigned" else None
    if conv.status == "closed":
        raise Conflict(f"conversation {conversation_id} is already closed")
    agent_id = conv.assigned_agent_id
    conv.status, conv.closed_at, conv.closed_by_id = "closed", now, by_user_id
    session.flush()
    from brokercare.service.csat import request_csat

    request_csat(session, "conversation", conv.id, now=now)
    if agent_id is not None:
        queues.fill_free_slots(session, agent_id, now=now)
    return conv


def take_over(session: Session, conversation_id: int, user: User, *, now: datetime | None = None) -> Conversation:
    """An agent picks a conversation from the bot or the queue themselves (needs a free slot)."""
    now = now or utcnow()
    conv = session.scalar(select(Conversation).where(Conversation.id == conversation_id).with_for_update())
    if conv is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    if conv.status in ("assigned", "closed"):
        raise Conflict(f"conversation {conversation_id} is {conv.status}")
    agent = queues._lock_agent(session, user.id)
    if queues.free_slots(session, agent) <= 0:
        raise Conflict("all your chat slots are in use; close a conversation first")
    conv.waiting_since = conv.waiting_since or now
    queues._assign(session, conv, agent, now, "taken")
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


# --- the bus ----------------------------------------------------------------------------------------

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
    from brokercare.security.service import redact_typed_pii  # security.service loads late

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
        except Exception:  # noqa: BLE001 - only a shortcut: the write path below decides afresh
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
            except Exception:  # noqa: BLE001 - stored now, routed later by the stranded-message sweep
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
        together = _batchable(session, inbounds)
        if len(together) > 1:
            for i, done in zip(together, _receive_together(session, [inbounds[i] for i in together],
                                                           now or utcnow()), strict=True):
                results[i] = done
    for i, inbound in enumerate(inbounds):
        if results[i] is None:
            try:
                results[i] = receive(session, inbound, now=now)
            except Exception as exc:  # noqa: BLE001 - answered to its own sender, the rest go on
                session.rollback()
                results[i] = exc
    return results


def _batchable(session: Session, inbounds: list[Inbound]) -> list[int]:
    """Indexes of the messages that can share the batch's transaction: plannable, not a delivery
    seen before, at most one per customer (the next one must see the first one's thread)."""
    customers: set[int] = set()
    picked = []
    for i, inbound in enumerate(inbounds):
        customer_id = plannable(inbound)
        if customer_id is None or customer_id in customers or not inbound.customer_text:
            continue
        customers.add(customer_id)
        picked.append(i)
    deliveries = Counter((inbounds[i].channel, inbounds[i].external_id) for i in picked
                         if inbounds[i].external_id)
    if deliveries:
        seen = set(session.execute(select(Message.channel, Message.external_id).where(
            Message.channel.in_({c for c, _ in deliveries}),
            Message.external_id.in_({e for _, e in deliveries}))).all())
        picked = [i for i in picked if not inbounds[i].external_id or (
            (key := (inbounds[i].channel, inbounds[i].external_id)) not in seen and deliveries[key] == 1)]
    return picked


def analyze_many(texts: list[str]) -> list[Analysis] | None:
    assistant = peers.assistant()
    if assistant is None or not hasattr(assistant, "analyze_many"):
        return None
    return [Analysis.of(a) for a in assistant.analyze_many(texts)]


def _receive_together(session: Session, inbounds: list[Inbound], now: datetime) -> list[Received | None]:
    """The shared path of :func:`receive_many`; ``None`` for a message left to :func:`receive`."""
    out: list[Received | None] = [None] * len(inbounds)
    try:
        analyses = analyze_many([i.customer_text for i in inbounds])
    except Exception:  # noqa: BLE001 - one bad text fails the batch call; each is analysed alone then
        log.exception("batch analysis failed; the messages are received one by one")
        return out
    if analyses is None:
        return out
    by_customer, threads = contacts_and_threads(session, [plannable(i) for i in inbounds])
    _records = peers.preload_customers(session, list(by_customer))  # held while the plans read them
    facts = contact_facts(session, [(c.id, c.customer_id) for c in by_customer.values()], now)
    plans: dict[int, Plan] = {}
    with peers.assistant_prefetched(session, list(by_customer)):
        for k, inbound in enumerate(inbounds):
            contact = by_customer.get(plannable(inbound))
            if contact is None:
                continue
            try:
                plans[k] = plan_for(session, inbound, analyses[k], now, contact, threads.get(contact.id),
                                    facts[contact.id])
            except Exception:  # noqa: BLE001 - only a shortcut: receive() routes it from scratch
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
        except Exception:  # noqa: BLE001 - nothing of the batch was written; each message goes alone
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
    for inbound, _analysis, p in batch:
        if p.conversation is None:
            p.conversation = Conversation(contact_id=p.contact.id, customer_id=p.contact.customer_id,
                                          channel=inbound.channel, status="bot", started_at=now,
                                          last_message_at=now)
            opened.append(p.conversation)
    if opened:
        session.add_all(opened)
        session.flush()
    ingested = [ingest(session, inbound, now=now, planned=p, analysis=analysis, checked=True, flush=False)
                for inbound, analysis, p in batch]
    session.flush()
    # Hand-offs first: they read and flush as they go (queues, tickets, the summary), which would
    # split the rows of the AI's answers; those wait for the one flush at the end.
    order = sorted(range(len(batch)), key=lambda j: not _hands_off(batch[j][2]))
    processed: list[Processed | None] = [None] * len(batch)
    with peers.ledger_batch(session):
        for j in order:
            _inbound, analysis, p = batch[j]
            processed[j] = process(session, ingested[j].first_customer_message.id, analysis=analysis,
                                   now=now, fresh=True, planned=p)
        session.flush()
    session.commit()
    return list(zip(ingested, processed, strict=True))


def _hands_off(p: Plan) -> bool:
    """Whether the planned message goes to a person now (the policy says so, or the AI asks)."""
    return p.status == "bot" and (p.decision.outcome == "human" or bool(p.reply and p.reply[1]))


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


def subscribe_routing(bus) -> None:  # noqa: ANN001
    """Register the routing consumer on a bus (the Redis worker calls this)."""
    bus.subscribe(MESSAGE_RECEIVED, handle_message_received, group=ROUTING_CONSUMER)
