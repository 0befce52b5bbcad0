"""The outbox's tables: every outbound message of every domain, and customers' quiet hours.

A message is written in its author's transaction (:func:`brokercare.outbox.service.enqueue`), so
it exists exactly when what it is about was committed; the dispatcher sends it later. States::

    pending ──claim──> sending ──> sent
       ^                  │
       │                  └──> failed (retry at next_attempt_at) ──claim──> sending ...
       │                  └──> dead (permanent refusal, too many tries, or expired)
       └──────────── retry by staff (from failed or dead)

The recipient is a customer (the address is looked up when the message is sent) or an explicit
address, kept encrypted (phone numbers, e-mail addresses and WeChat openids are class-3 personal
data) with a masked hint staff may see.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import Boolean, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "state", "next_attempt_at"),
        Index("ix_outbox_messages_origin", "origin", "origin_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique per message: enqueueing twice with one key gives one message; sent to the gateway on
    # every try (Idempotency-Key header, SMTP Message-ID) so a retried request is not sent twice.
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    channel: Mapped[str] = mapped_column(String(8))  # app, sms, wechat, email
    kind: Mapped[str] = mapped_column(String(32))  # reply, csat_request, margin_call, ...
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # sent in quiet hours too
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)  # a staff recipient (security.users.id)
    address_enc: Mapped[str | None] = mapped_column(Text)  # explicit address, encrypted
    address_hint: Mapped[str | None] = mapped_column(String(64))  # masked, for staff
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(24))  # the domain that wrote it
    origin_ref: Mapped[str | None] = mapped_column(String(64))  # e.g. message:812, alert:45
    state: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # gateway receipt
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # app messages only


class QuietHours(Base):
    """A customer's do-not-disturb period, Beijing time; may wrap midnight (22:00–07:30)."""

    __tablename__ = "outbox_quiet_hours"

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
