"""The advisory domain's tables.

``risk_assessments`` holds every risk-tolerance assessment a customer took (the questionnaire's
answers, score and C1–C5 result); this domain is its only writer and announces each one as
``risk.assessed``.
``suitability_confirmations`` keeps every confirmed suitability warning with the exact text the
customer saw (and its hash, which is what goes into the tamper-evident ledger).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Money, UTCDateTime, utcnow


class RiskAssessment(Base):
    __tablename__ = "risk_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(2))  # C1..C5
    score: Mapped[int] = mapped_column(Integer)
    assessed_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(12), default="app")
    answers: Mapped[dict | None] = mapped_column(JSON)


class SuitabilityConfirmation(Base):
    __tablename__ = "suitability_confirmations"
    __table_args__ = (Index("ix_suitability_confirmations_customer_time", "customer_id", "confirmed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(32))
    product_risk: Mapped[str] = mapped_column(String(2))
    investor_level: Mapped[str] = mapped_column(String(12))
    decision: Mapped[str] = mapped_column(String(12))
    message: Mapped[str] = mapped_column(Text)
    message_sha256: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(12), default="app")
    ledger_entry_id: Mapped[int | None] = mapped_column(Integer)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerGoal(Base):
    """A goal the customer set (教育金, 养老, 购房, 目标收益), re-projected as markets and savings move.

    ``current_value`` is what is already set aside for the goal; each review stores the latest
    probability so off-track goals can be listed without re-simulating.
    """

    __tablename__ = "customer_goals"
    __table_args__ = (Index("ix_customer_goals_customer_status", "customer_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(40))
    target_amount: Mapped[Decimal] = mapped_column(Money())
    target_date: Mapped[date] = mapped_column(Date)
    current_value: Mapped[Decimal] = mapped_column(Money())
    monthly_contribution: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[str] = mapped_column(String(12), default="active")  # active, achieved, closed
    probability: Mapped[float | None] = mapped_column(Float)
    on_track: Mapped[bool | None] = mapped_column(Boolean)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
