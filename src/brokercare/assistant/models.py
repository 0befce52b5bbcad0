"""The assistant's tables: the broker's knowledge base entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class KbEntry(Base):
    """One FAQ entry the broker imported (``brokercare kb import``).

    ``question_key`` is the normalised question: re-importing the same question updates its answer
    instead of adding a duplicate.
    """

    __tablename__ = "kb_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(String(500))
    question_key: Mapped[str] = mapped_column(String(500), unique=True)
    answer: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
