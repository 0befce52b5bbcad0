"""Tables of the service hub: contacts and their channel identities, conversations and messages,
routing decisions, tickets with their events and SLA clocks, feedback, CSAT surveys and staff
notices (what the hub sends to customers leaves through the outbox domain).

A *contact* is whoever writes to the broker: a known customer (``customer_id`` set) or a
prospect/anonymous sender. Channel identities (WeChat openid, phone, email, account number) point
at a contact, so a customer known on one channel is recognised on another. Phone numbers and email
addresses are kept only as blind indexes here (:func:`brokercare.security.crypto.blind_index`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class AgentProfile(Base):
    """How the hub routes to a member of staff: skills, chat slots, team lead, presence. The login
    itself (role, name, whether it may sign in) is the security domain's ``users`` row."""

    __tablename__ = "agent_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skills: Mapped[list] = mapped_column(JSON, default=list)  # routing skills
    max_concurrent: Mapped[int] = mapped_column(Integer, default=5)  # chat slots
    team_lead_id: Mapped[int | None] = mapped_column(Integer)
    present: Mapped[bool] = mapped_column(Boolean, default=True)  # takes chats now (their own choice)
    # The last request of their workbench (a heartbeat, written at most every 30 s): presence
    # is online/busy while it is fresh, away once it is stale or they logged out.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class Contact(Base):
    __tablename__ = "service_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(12))  # customer, prospect
    label: Mapped[str] = mapped_column(String(64))  # what staff see for an unknown sender
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContactIdentity(Base):
    """One channel identity of a contact; ``key`` is the openid, or a blind index for phone/email."""

    __tablename__ = "service_contact_identities"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("service_contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # wechat_openid, phone, email, account_no, user
    key: Mapped[str] = mapped_column(String(128))
    # The address itself, encrypted (phone, email), so replies and surveys can be delivered.
    value_enc: Mapped[str | None] = mapped_column(Text)
    verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Conversation(Base):
    """One open thread per contact across every channel; ``channel`` is the latest inbound one."""

    __tablename__ = "service_conversations"
    __table_args__ = (
        Index("ix_service_conversations_queue", "status", "priority", "waiting_since"),
        Index("ix_service_conversations_agent", "assigned_agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("service_contacts.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(12))
    # bot (the AI is handling it), waiting (queued for a human), assigned, closed
    status: Mapped[str] = mapped_column(String(12), default="bot")
    skill: Mapped[str | None] = mapped_column(String(24))
    priority: Mapped[int] = mapped_column(Integer, default=5)  # 0 = most urgent
    preferred_agent_id: Mapped[int | None] = mapped_column(Integer)  # the dedicated manager
    assigned_agent_id: Mapped[int | None] = mapped_column(Integer)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_human_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handoff_summary: Mapped[dict | None] = mapped_column(JSON)
    last_intent: Mapped[str | None] = mapped_column(String(32))
    last_emotion: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[int | None] = mapped_column(Integer)


class Message(Base):
    __tablename__ = "service_messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_service_messages_conversation", "conversation_id", "id"),
        Index("ix_service_messages_contact_time", "contact_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("service_conversations.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    sender: Mapped[str] = mapped_column(String(8))  # customer, ai, agent, system
    agent_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(12))
    # The channel's own message id (WeChat MsgId, email Message-ID, call id + segment): a channel
    # that retries a push (WeChat does, three times) is stored once.
    external_id: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)  # personal numbers typed into it masked
    text_enc: Mapped[str | None] = mapped_column(Text)  # the text as typed, sealed (when masked)
    meta: Mapped[dict | None] = mapped_column(JSON)
    analysis: Mapped[dict | None] = mapped_column(JSON)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RoutingDecision(Base):
    __tablename__ = "service_routing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("service_conversations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("service_messages.id", ondelete="CASCADE"), unique=True
    )
    outcome: Mapped[str] = mapped_column(String(16))  # ai_answer, ai_offer_human, human
    rule: Mapped[str] = mapped_column(String(48))
    skill: Mapped[str | None] = mapped_column(String(24))
    priority: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict] = mapped_column(JSON)
    assigned_agent_id: Mapped[int | None] = mapped_column(Integer)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Ticket(Base):
    __tablename__ = "service_tickets"
    __table_args__ = (Index("ix_service_tickets_status_dept", "status", "department"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(24), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("service_contacts.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    conversation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    source: Mapped[str] = mapped_column(String(16))  # ai_unresolved, complaint, staff, feedback
    category: Mapped[str] = mapped_column(String(32))  # the intent label
    department: Mapped[str] = mapped_column(String(24))  # the skill queue
    priority: Mapped[str] = mapped_column(String(10))  # emergency, urgent, general
    status: Mapped[str] = mapped_column(String(20), default="open")
    subject: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(12))
    assignee_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    resolution: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TicketEvent(Base):
    __tablename__ = "service_ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("service_tickets.id", ondelete="CASCADE"), index=True
    )
    # created, state_changed, comment, assigned, sla_warning, sla_breach, escalated
    kind: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(default=False)  # a reply the customer sees
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SlaClock(Base):
    """One SLA target on one subject (a ticket, a feedback entry, a conversation)."""

    __tablename__ = "service_sla_clocks"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_id", "metric"),
        Index("ix_service_sla_clocks_open", "met_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # ticket, feedback, conversation
    subject_id: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(16))  # first_response, resolution, answer
    policy: Mapped[str] = mapped_column(String(16))  # emergency, urgent, general, feedback
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_to_id: Mapped[int | None] = mapped_column(Integer)


class Feedback(Base):
    __tablename__ = "service_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("service_contacts.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(12))  # suggestion, complaint, praise, question
    category: Mapped[str] = mapped_column(String(32))  # intent label from the assistant
    emotion: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), default="new")  # new, answered
    # Suggestions only: under_review, accepted, rejected, shipped
    suggestion_status: Mapped[str | None] = mapped_column(String(14))
    shipped_in: Mapped[str | None] = mapped_column(String(40))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CsatSurvey(Base):
    """A satisfaction request after a closed conversation or ticket, and the customer's answer."""

    __tablename__ = "service_csat_surveys"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # conversation, ticket
    subject_id: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int] = mapped_column(ForeignKey("service_contacts.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(12))
    token: Mapped[str] = mapped_column(String(32), unique=True)
    agent_id: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    score: Mapped[int | None] = mapped_column(Integer)  # 1..5
    comment: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_channel: Mapped[str | None] = mapped_column(String(12))


class StaffNotice(Base):
    """A notice for a member of staff on the workbench (an SLA warning or breach), at most once
    per ``dedupe_key``; read when they open it."""

    __tablename__ = "service_staff_notices"
    __table_args__ = (Index("ix_service_staff_notices_user", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))  # sla_warning, sla_breach
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Callback(Base):
    """A call-back promised to a customer who asked for a person while the desk was closed: due
    when the desk next opens, shown on the queue page until a member of staff marks it done."""

    __tablename__ = "service_callbacks"
    __table_args__ = (Index("ix_service_callbacks_open", "done_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("service_conversations.id", ondelete="CASCADE"), unique=True)
    contact_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    skill: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text)  # what the customer asked, in their words (masked)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_id: Mapped[int | None] = mapped_column(Integer)


class CaseVector(Base):
    """A resolved ticket as a searchable case: the sentence vector of the customer's problem (its
    subject and description) and what the hand-off summary may show of it — the ticket number,
    subject and resolution with personal data masked when it was written, never the other
    customer's name or phone. ``active`` is false once the ticket is reopened; ``indexed_at`` (the
    real clock, also on deactivation) lets each process pick up only what changed; ``encoder``
    names the model that made ``vector`` (float16 bytes), so a new encoder re-embeds the rest."""

    __tablename__ = "service_case_vectors"
    __table_args__ = (Index("ix_service_case_vectors_recent", "active", "resolved_at"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("service_tickets.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer)
    ticket_no: Mapped[str] = mapped_column(String(24))
    category: Mapped[str] = mapped_column(String(32))  # the ticket's intent label
    subject: Mapped[str] = mapped_column(String(120))  # masked
    resolution: Mapped[str] = mapped_column(Text)  # masked, cut to what a summary shows
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    encoder: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
