"""Tables of the shared kernel: processed events, the exchange calendar, the runs of the schedule."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class ProcessedEvent(Base):
    """Which consumer already handled which event: makes at-least-once delivery idempotent."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("consumer", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consumer: Mapped[str] = mapped_column(String(80))
    event_id: Mapped[str] = mapped_column(String(64))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExchangeHoliday(Base):
    """A weekday on which the exchanges are closed, from their yearly notice (休市安排).

    A year with rows is a year the calendar covers; dates in other years are computed as weekdays
    only and flagged provisional (``core.calendar``).
    """

    __tablename__ = "exchange_holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    # Which exchanges close, sorted codes joined by commas: "BJ,SH,SZ" for the A-share market.
    exchanges: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(40))  # 春节, 国庆节, …
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JobRun(Base):
    """One run of a scheduled job for one due time; the unique (job, due_at) row is the claim.

    Any number of scheduler processes may try to insert the row for a due time: one succeeds and
    runs the job, the others see the conflict and move on. A running row carries its owner and a
    heartbeat; a row whose heartbeat stopped is taken over (``attempt`` 2) and run again, once.
    """

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "due_at"),
        Index("ix_job_runs_status_heartbeat", "status", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(80))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    day: Mapped[date] = mapped_column(Date)  # the business day the run is for (Beijing)
    # schedule (on time), catch_up (missed while down, run on start), retry (owner died), manual
    trigger: Mapped[str] = mapped_column(String(12))
    # running, succeeded, failed, missed (down at the time; a later due time was caught up)
    status: Mapped[str] = mapped_column(String(12))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    owner: Mapped[str | None] = mapped_column(String(120))  # host:pid:token of the process
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    counts: Mapped[dict | None] = mapped_column(JSON)
    warnings: Mapped[list | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
