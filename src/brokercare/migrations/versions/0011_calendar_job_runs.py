"""Core: the exchange calendar as a table (seeded with the shipped 2024–2026 notices) and the runs
of the day's schedule.

Revision ID: 0011_calendar_job_runs
Revises: 0010_margin_shorts
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0011_calendar_job_runs"
down_revision: str | Sequence[str] | None = "0010_margin_shorts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The weekdays the SSE, SZSE and BSE closed or announced closing in 2024–2026, as shipped at this
# revision (core/data/exchange_holidays.csv); later years are loaded with `market load-calendar`.
SHIPPED = (
    ("2024-01-01", "元旦"),
    ("2024-02-09", "春节"),
    ("2024-02-12", "春节"),
    ("2024-02-13", "春节"),
    ("2024-02-14", "春节"),
    ("2024-02-15", "春节"),
    ("2024-02-16", "春节"),
    ("2024-04-04", "清明节"),
    ("2024-04-05", "清明节"),
    ("2024-05-01", "劳动节"),
    ("2024-05-02", "劳动节"),
    ("2024-05-03", "劳动节"),
    ("2024-06-10", "端午节"),
    ("2024-09-16", "中秋节"),
    ("2024-09-17", "中秋节"),
    ("2024-10-01", "国庆节"),
    ("2024-10-02", "国庆节"),
    ("2024-10-03", "国庆节"),
    ("2024-10-04", "国庆节"),
    ("2024-10-07", "国庆节"),
    ("2025-01-01", "元旦"),
    ("2025-01-28", "春节"),
    ("2025-01-29", "春节"),
    ("2025-01-30", "春节"),
    ("2025-01-31", "春节"),
    ("2025-02-03", "春节"),
    ("2025-02-04", "春节"),
    ("2025-04-04", "清明节"),
    ("2025-05-01", "劳动节"),
    ("2025-05-02", "劳动节"),
    ("2025-05-05", "劳动节"),
    ("2025-06-02", "端午节"),
    ("2025-10-01", "国庆节、中秋节"),
    ("2025-10-02", "国庆节、中秋节"),
    ("2025-10-03", "国庆节、中秋节"),
    ("2025-10-06", "国庆节、中秋节"),
    ("2025-10-07", "国庆节、中秋节"),
    ("2025-10-08", "国庆节、中秋节"),
    ("2026-01-01", "元旦"),
    ("2026-01-02", "元旦"),
    ("2026-02-16", "春节"),
    ("2026-02-17", "春节"),
    ("2026-02-18", "春节"),
    ("2026-02-19", "春节"),
    ("2026-02-20", "春节"),
    ("2026-02-23", "春节"),
    ("2026-04-06", "清明节"),
    ("2026-05-01", "劳动节"),
    ("2026-05-04", "劳动节"),
    ("2026-05-05", "劳动节"),
    ("2026-06-19", "端午节"),
    ("2026-09-25", "中秋节"),
    ("2026-10-01", "国庆节"),
    ("2026-10-02", "国庆节"),
    ("2026-10-05", "国庆节"),
    ("2026-10-06", "国庆节"),
    ("2026-10-07", "国庆节"),
)


def upgrade() -> None:
    holidays = op.create_table(
        "exchange_holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("exchanges", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_holidays")),
        sa.UniqueConstraint("day", name=op.f("uq_exchange_holidays_day")),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=80), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("trigger", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job", "due_at", name=op.f("uq_job_runs_job")),
    )
    op.create_index("ix_job_runs_status_heartbeat", "job_runs", ["status", "heartbeat_at"], unique=False)
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":  # stored as naive UTC, as UTCDateTime writes it
        now = now.replace(tzinfo=None)
    op.bulk_insert(holidays, [
        {"day": date.fromisoformat(day), "exchanges": "BJ,SH,SZ", "name": name, "loaded_at": now}
        for day, name in SHIPPED
    ])


def downgrade() -> None:
    op.drop_index("ix_job_runs_status_heartbeat", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_table("exchange_holidays")
