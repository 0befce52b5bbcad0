"""Service hub: its messages leave through the platform's one outbox; staff notices get their own table.

``service_outbox`` held the hub's replies, CSAT requests, feedback answers and SLA notices, and
nothing ever sent it. Customer-facing rows still pending move to ``outbox_messages`` (origin
``service``), with their sealed e-mail or phone address as it was; a WeChat row keeps no address
(its openid was stored in clear) and is delivered to the address on the customer's file, or shows
as undeliverable to staff. Workbench notices (SLA warnings and breaches) move to
``service_staff_notices``. The old table is dropped.

Revision ID: 0025_hub_shared_outbox
Revises: 0024_quality_journeys
Create Date: 2026-12-05 18:10:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0025_hub_shared_outbox"
down_revision: str | Sequence[str] | None = "0024_quality_journeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNEL = {"wechat": "wechat", "email": "email", "sms": "sms", "phone": "sms"}


def upgrade() -> None:
    op.create_table(
        "service_staff_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_staff_notices")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_service_staff_notices_dedupe_key")),
    )
    op.create_index("ix_service_staff_notices_user", "service_staff_notices", ["user_id", "read_at"])
    _move_rows(op.get_bind())
    op.drop_table("service_outbox")


def _move_rows(conn) -> None:
    old = sa.table("service_outbox", sa.column("id"), sa.column("channel"), sa.column("kind"),
                   sa.column("contact_id"), sa.column("user_id"), sa.column("address"), sa.column("subject"),
                   sa.column("body"), sa.column("dedupe_key"), sa.column("status"), sa.column("created_at"))
    contacts = dict(conn.execute(sa.text("SELECT id, customer_id FROM service_contacts")).all())
    notices, messages = [], []
    for row in conn.execute(sa.select(old)).mappings():
        if row["channel"] == "workbench":
            if row["user_id"] is not None:
                notices.append({"user_id": row["user_id"], "kind": row["kind"], "body": row["body"],
                                "dedupe_key": row["dedupe_key"] or f"moved:{row['id']}",
                                "created_at": row["created_at"]})
            continue
        if row["status"] != "pending" or row["channel"] not in _CHANNEL:
            continue
        address = row["address"] if isinstance(row["address"], dict) else json.loads(row["address"] or "{}")
        sealed = address.get("email_enc") or address.get("phone_enc")
        message_id = address.get("message_id")
        channel = _CHANNEL[row["channel"]]
        key = row["dedupe_key"] or f"moved:{row['id']}"
        messages.append({
            "idempotency_key": f"service:{key}", "channel": channel,
            "kind": row["kind"][:32], "urgent": False, "customer_id": contacts.get(row["contact_id"]),
            "address_enc": sealed, "address_hint": None,
            "subject": row["subject"] or ("券商客服消息" if channel == "email" else None), "body": row["body"],
            "origin": "service", "origin_ref": f"message:{message_id}" if message_id else None,
            "state": "pending", "attempts": 0, "next_attempt_at": row["created_at"],
            "created_at": row["created_at"]})
    if notices:
        op.bulk_insert(sa.table("service_staff_notices", *(sa.column(k) for k in notices[0])), notices)
    if messages:
        op.bulk_insert(sa.table("outbox_messages", *(sa.column(k) for k in messages[0])), messages)


def downgrade() -> None:
    op.create_table(
        "service_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(120), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_service_outbox_dedupe_key")),
    )
    op.create_index("ix_service_outbox_pending", "service_outbox", ["status", "channel"])
    op.execute("""
        INSERT INTO service_outbox (channel, kind, user_id, body, dedupe_key, status, attempts, created_at)
        SELECT 'workbench', kind, user_id, body, dedupe_key, 'pending', 0, created_at FROM service_staff_notices
    """)
    op.drop_index("ix_service_staff_notices_user", table_name="service_staff_notices")
    op.drop_table("service_staff_notices")
