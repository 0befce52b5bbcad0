"""The quality domain's tables: the customer-journey steps published on the bus (``journey.step``,
core/journeys.py), one row per step of a journey instance, for the funnels; the team leads'
quality reviews of sampled conversations (and the samples drawn), for the agents' scorecards; the month-end snapshot of
every customer's net assets and manager, for the managers' scorecards (accounts keeps no AUM
history); and the nightly churn-risk scores with their reasons."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Money, UTCDateTime, utcnow


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
    #: The month a review counts for is the conversation's, not the day the lead got to it.
    conversation_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReviewSample(Base):
    """A closed conversation a team lead drew for a quality review, open until reviewed: while
    it is open the lead may read that customer's conversation (``quality_review``)."""

    __tablename__ = "quality_review_samples"
    __table_args__ = (UniqueConstraint("conversation_id"), Index("ix_quality_review_samples_lead", "lead_id", "customer_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    lead_id: Mapped[int] = mapped_column(Integer)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BookSnapshot(Base):
    """One customer's net assets and dedicated manager at the close of ``day`` (the last trading
    day of a month): a manager's book and its AUM then, for AUM growth and retention."""

    __tablename__ = "quality_book_snapshots"
    __table_args__ = (UniqueConstraint("day", "customer_id"), Index("ix_quality_book_snapshots_manager", "day", "manager_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[int] = mapped_column(Integer)
    manager_id: Mapped[int | None] = mapped_column(Integer)
    net_assets: Mapped[Decimal] = mapped_column(Money())


class ChurnScore(Base):
    """A customer's churn risk as scored on ``scored_on`` (0..1), with the reasons in Chinese."""

    __tablename__ = "quality_churn_scores"
    __table_args__ = (UniqueConstraint("scored_on", "customer_id"),
                      Index("ix_quality_churn_scores_manager", "scored_on", "manager_id", "score"))

    id: Mapped[int] = mapped_column(primary_key=True)
    scored_on: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[int] = mapped_column(Integer)
    manager_id: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    top_share: Mapped[bool] = mapped_column(default=False)  # among the broker's riskiest 5 %
    reasons: Mapped[list] = mapped_column(JSON)
    model_trained_at: Mapped[datetime] = mapped_column(UTCDateTime())
