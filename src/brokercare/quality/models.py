"""The quality domain's table: the customer-journey steps published on the bus (``journey.step``,
core/journeys.py), one row per step of a journey instance, for the funnels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime


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
