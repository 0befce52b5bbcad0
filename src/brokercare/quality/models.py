"""The quality domain's tables: the customer-journey steps published on the bus (``journey.step``,
core/journeys.py), one row per step of a journey instance, for the funnels; and the team leads'
quality reviews of sampled conversations, for the agents' scorecards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class JourneyStepRecord(Base):
    __tablename__ = "quality_journey_steps"
    __table_args__ = (
        UniqueConstraint("journey", "ref", "step"),  # a redelivered event is one step
        Index("ix_quality_journey_steps_time", "journey", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    journey: Mapped[str] = mapped_column(String(24))
    step: Mapped[str] = mapped_column(String(32))
    step_no: Mapped[int] = mapped_column(Integer)  # 1 = the journey's first step
    ref: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(12))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConversationReview(Base):
    """A team lead's quality review of one sampled conversation: a score per criterion of the
    review form (1–5) and the total on 100."""

    __tablename__ = "quality_reviews"
    __table_args__ = (UniqueConstraint("conversation_id"),)  # one review per conversation

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[int] = mapped_column(Integer, index=True)
    reviewer_id: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)  # 0..100
    comment: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
