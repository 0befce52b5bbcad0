"""Saying things to a contact: a message in the thread, and for the channels the hub must push
to (WeChat, e-mail, SMS after a call) a row in the hub's outbox that the channel adapters send.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.service.models import ContactIdentity, Conversation, Message, OutboxMessage

ASYNC_CHANNELS = ("email", "wechat", "phone")  # replies leave through the outbox


def say(session: Session, conv: Conversation, text: str, *, sender: str, now: datetime,
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
