"""The assistant's tables: the broker's knowledge base entries and what the service desk taught it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
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


class NluFeedback(Base):
    """One customer sentence the service desk taught the assistant something about.

    ``source`` is where it came from: ``wrong_intent`` (an agent picked the right intent on the
    workbench: ``label`` is set, by ``labelled_by_id``), ``agent_edit`` (the agent
    ``labelled_by_id`` changed the suggested reply before sending it), ``no_kb_answer`` (the knowledge base had no answer and the
    customer was handed to a person), ``low_csat`` (the customer scored the service 1 or 2).
    ``proposed_label`` is the intent the assistant read; only rows with a ``label`` train a model,
    the others wait for a person to confirm one. ``dedupe_key`` keeps a signal reported twice (a
    retried request, a re-opened page) to one row.
    """

    __tablename__ = "assistant_nlu_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(40))
    proposed_label: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16), index=True)
    labelled_by_id: Mapped[int | None] = mapped_column(Integer)
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(Integer)
    suggested_reply: Mapped[str | None] = mapped_column(Text)
    sent_reply: Mapped[str | None] = mapped_column(Text)
    csat_score: Mapped[int | None] = mapped_column(Integer)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    labelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
