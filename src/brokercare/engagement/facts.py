"""Batch reads of managers' leads and tasks for the service-quality domain (proactive lead
conversion, customer managers' scorecards): one narrow row per lead or task of a period, so the
quality domain owns its definitions while this domain keeps its tables."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from sqlalchemy import Connection, select

from brokercare.core.bulkread import date_text, read_frame
from brokercare.engagement.models import Lead, ManagerTask

TIME = pl.Datetime("us", "UTC")


def lead_facts(conn: Connection, *, first_day: date, last_day: date, manager_id: int | None = None) -> pl.DataFrame:
    """Leads raised from ``first_day`` to ``last_day`` (Beijing days, both included; one manager's
    with ``manager_id``): the manager, the need, the state, when it was contacted and closed, and
    the amount won (yuan)."""
    stmt = (select(Lead.id, Lead.customer_id, Lead.manager_id, Lead.need, Lead.state, date_text(Lead.raised_on),
                   Lead.contacted_at, Lead.closed_at, Lead.amount)
            .where(Lead.raised_on >= first_day, Lead.raised_on <= last_day))
    if manager_id is not None:
        stmt = stmt.where(Lead.manager_id == manager_id)
    frame = read_frame(conn, stmt, {
        "lead_id": pl.Int64, "customer_id": pl.Int64, "manager_id": pl.Int64, "need": pl.String,
        "state": pl.String, "raised_on": pl.String, "contacted_at": TIME, "closed_at": TIME,
        "amount": pl.Float64})
    return frame.with_columns(pl.col("raised_on").str.to_date())


def task_facts(conn: Connection, *, start: datetime, end: datetime, manager_id: int | None = None) -> pl.DataFrame:
    """Managers' tasks due in ``[start, end)`` (one manager's with ``manager_id``): the manager,
    the kind, and when it was done."""
    stmt = (select(ManagerTask.id, ManagerTask.manager_id, ManagerTask.kind, ManagerTask.due_at, ManagerTask.done_at)
            .where(ManagerTask.due_at >= start, ManagerTask.due_at < end))
    if manager_id is not None:
        stmt = stmt.where(ManagerTask.manager_id == manager_id)
    return read_frame(conn, stmt, {"task_id": pl.Int64, "manager_id": pl.Int64, "kind": pl.String,
                                   "due_at": TIME, "done_at": TIME})
