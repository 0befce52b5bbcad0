"""Saying things to a contact: a message in the thread, and for the channels the hub must push
to (WeChat, e-mail, SMS after a call, an app push when there is no open thread) a message queued
in the platform's one outbox, in the same transaction. The outbox's dispatcher delivers it and
keeps its state, which the conversation shows beside the message (:func:`delivery_of`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.outbox import service as outbox
from brokercare.outbox.schemas import DeliveryState, Queued
from brokercare.security.service import get_cipher
from brokercare.service.models import Contact, ContactIdentity, Conversation, Message

log = logging.getLogger(__name__)

ASYNC_CHANNELS = ("email", "wechat", "phone")  # replies leave through the outbox
ORIGIN = "service"
# The hub's channel -> the outbox channel that reaches the contact there.
_OUTBOX_CHANNEL = {"wechat": "wechat", "email": "email", "phone": "sms"}
_IDENTITY_KIND = {"wechat": "wechat_openid", "email": "email", "sms": "phone"}
# An e-mail needs a subject; these are the hub's, by kind of message.
_SUBJECTS = {"reply": "您的咨询回复", "csat_request": "服务满意度评价", "feedback_answer": "您的意见已有回复",
             "suggestion_shipped": "您的建议已上线", "ticket_reply": "您的工单有新进展"}


def say(session: Session, conv: Conversation, text: str, *, sender: str, now: datetime,
        agent_id: int | None = None, passive: bool = False, flush: bool = True) -> Message:
    msg = Message(conversation_id=conv.id, contact_id=conv.contact_id, direction="out", sender=sender,
                  agent_id=agent_id, channel=conv.channel, text=text, sent_at=now, created_at=now)
    session.add(msg)
    push = (conv.channel in ASYNC_CHANNELS and sender in ("agent", "system") and not passive
            or conv.channel in ("email", "phone") and sender == "ai")
    if flush or push:
        session.flush()
    if push:
        _enqueue(session, conv.contact_id, conv.channel, "reply", text, ref=f"message:{msg.id}")
    return msg


def send_to_contact(session: Session, contact_id: int, channel: str, text: str, *, kind: str,
                    conversation_id: int | None = None, agent_id: int | None = None,
                    subject: str | None = None, dedupe_key: str | None = None,
                    now: datetime | None = None) -> Queued | None:
    """Tell a contact something on a channel: in the thread for app/web, through the outbox
    for channels the hub must push to (WeChat, email, SMS after a call) or when no thread is open."""
    now = now or utcnow()
    msg = None
    if conversation_id is not None and session.get(Conversation, conversation_id) is not None:
        msg = Message(conversation_id=conversation_id, contact_id=contact_id, direction="out",
                      sender="agent" if agent_id else "system", agent_id=agent_id, channel=channel,
                      text=text, sent_at=now, created_at=now, meta={"kind": kind})
        session.add(msg)
    session.flush()
    if channel in ASYNC_CHANNELS or msg is None:
        ref = f"message:{msg.id}" if msg is not None else f"{kind}:{dedupe_key or uuid.uuid4().hex}"[:64]
        return _enqueue(session, contact_id, channel, kind, text, ref=ref, subject=subject, key=dedupe_key)
    return None


def delivery_of(session: Session, messages: list[Message]) -> dict[int, DeliveryState]:
    """The latest delivery state of each outbound message the outbox carried, by message id."""
    refs = {f"message:{m.id}": m.id for m in messages if m.direction == "out" and m.channel in ASYNC_CHANNELS}
    states = outbox.delivery_states(session, origin=ORIGIN, refs=list(refs))
    return {refs[ref]: found[-1] for ref, found in states.items() if found}


def _enqueue(session: Session, contact_id: int, channel: str, kind: str, text: str, *, ref: str,
             subject: str | None = None, key: str | None = None) -> Queued | None:
    contact = session.get(Contact, contact_id)
    customer_id = contact.customer_id if contact is not None else None
    target = _OUTBOX_CHANNEL.get(channel, "app")
    address = _address(session, contact_id, target)
    if target == "app" and customer_id is None:  # a prospect has no app: their phone, if known
        target, address = "sms", _address(session, contact_id, "sms")
    if address is None and customer_id is None:
        log.warning("contact %s has no %s address; %s %s not queued", contact_id, target, kind, ref)
        return None
    return outbox.enqueue(
        session, channel=target, kind=kind, body=text, idempotency_key=f"service:{key or ref}",
        origin=ORIGIN, origin_ref=ref, customer_id=customer_id, address=address,
        subject=(subject or _SUBJECTS.get(kind, "券商客服消息")) if target == "email" else None)


def _address(session: Session, contact_id: int, outbox_channel: str) -> str | None:
    """The contact's own address on the channel as the hub knows it (the openid they wrote from,
    the e-mail or phone they gave), else ``None`` for the customer's address on file."""
    kind = _IDENTITY_KIND.get(outbox_channel)
    if kind is None:
        return None
    ident = session.scalar(select(ContactIdentity).where(
        ContactIdentity.contact_id == contact_id, ContactIdentity.kind == kind)
        .order_by(ContactIdentity.verified.desc(), ContactIdentity.id.desc()).limit(1))
    if ident is None:
        return None
    if kind == "wechat_openid":
        return ident.key
    return get_cipher(session).decrypt(ident.value_enc) if ident.value_enc else None
