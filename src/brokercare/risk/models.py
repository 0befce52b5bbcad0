"""Account risk control's tables: scored events (the evidence), each customer's baseline, the
measures taken (second factor, hold, freeze), step-up challenges, and the risk desk's cases.

Customer ids are kept by value, without a foreign key: risk evidence is a regulatory record that
outlives a customer row (closed accounts are kept for years), and the login path must not wait on
another domain's table.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Money, UTCDateTime, utcnow


class RiskEvent(Base):
    """One scored event (login, failed login, password or device change, transfer, order)."""

    __tablename__ = "risk_events"
    __table_args__ = (
        Index("ix_risk_events_customer_time", "customer_id", "occurred_at"),
        Index("ix_risk_events_ip_time", "ip", "occurred_at"),
        Index("ix_risk_events_device_time", "device_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    customer_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(45))
    device_id: Mapped[str | None] = mapped_column(String(64))
    place: Mapped[str | None] = mapped_column(String(40))  # 广东省广州市, from the IP
    channel: Mapped[str | None] = mapped_column(String(12))
    amount: Mapped[Decimal | None] = mapped_column(Money())
    card: Mapped[str | None] = mapped_column(String(64))  # the card's token, never its number
    symbol: Mapped[str | None] = mapped_column(String(16))
    side: Mapped[str | None] = mapped_column(String(4))
    quantity: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(8))  # allow, step_up, hold, freeze
    signals: Mapped[list] = mapped_column(JSON, default=list)
    reasons: Mapped[list] = mapped_column(JSON, default=list)  # [{code, text}] in Chinese
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)  # the features behind the signals
    rules_version: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ledger_index: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RiskBaseline(Base):
    """What the customer usually does: devices, places, hours, amounts, cards, order pace.

    One row per customer, read by primary key on every login; a JSON document so the login path
    is one read and one write (see :mod:`brokercare.risk.baseline`)."""

    __tablename__ = "risk_baselines"

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RiskMeasure(Base):
    """A measure taken on a decision: a second factor asked, a transfer held, an account frozen.

    ``status``: step-up ``pending`` → ``passed`` / ``failed`` / ``expired``; hold ``active`` →
    ``released`` (the transfer goes) / ``rejected`` (it does not); freeze ``active`` → ``lifted``.
    Every change after creation is made by the customer (a code) or the risk desk (with a reason).
    """

    __tablename__ = "risk_measures"
    __table_args__ = (Index("ix_risk_measures_customer_status", "customer_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("risk_events.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(8))  # step_up, hold, freeze
    status: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)  # what the customer was told, in Chinese
    amount: Mapped[Decimal | None] = mapped_column(Money())  # the transfer a hold keeps
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[int | None] = mapped_column(Integer)  # security.users.id; null: the customer
    resolution: Mapped[str | None] = mapped_column(String(400))


class StepUpChallenge(Base):
    """A second-factor challenge: an SMS code (stored as a keyed hash) or a TOTP prompt."""

    __tablename__ = "risk_step_up_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("risk_measures.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))  # sms, totp
    code_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, passed, failed, expired
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TotpEnrolment(Base):
    """A customer's authenticator-app secret (RFC 6238), encrypted with the field cipher."""

    __tablename__ = "risk_totp_enrolments"

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret_enc: Mapped[str] = mapped_column(Text)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RiskCase(Base):
    """The risk desk's unit of work: everything about one customer (or one attacking IP) while open."""

    __tablename__ = "risk_cases"
    __table_args__ = (Index("ix_risk_cases_status_priority", "status", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), index=True)  # customer:123 or ip:1.2.3.4
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # the strongest signal when opened
    status: Mapped[str] = mapped_column(String(8), default="open")  # open, closed
    priority: Mapped[int] = mapped_column(Integer)  # the highest score seen
    summary: Mapped[str] = mapped_column(String(400))
    assigned_to: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(16))  # fraud, legitimate, inconclusive
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RiskCaseNote(Base):
    """A line of a case's timeline written by the desk: a note, a release, a lift, a closing."""

    __tablename__ = "risk_case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("risk_cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # note, release, reject, lift, freeze, close
    text: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
