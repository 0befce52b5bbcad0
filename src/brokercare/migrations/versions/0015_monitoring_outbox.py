"""Monitoring: alerts and IPO reminders leave through the shared outbox; ``notifications`` goes.

Monitoring's own outbox table and dispatcher are replaced by the ``outbox`` domain's (one
dispatcher, one set of channel adapters, one message centre for every domain). The rows already
written move over with their keys, so nothing pending is lost and nothing sent is sent again:
pending → pending, sent/delivered/read → sent (with their times), failed → dead. Rows the hourly
cap suppressed were never to be sent and are not copied.

Revision ID: 0015_monitoring_outbox
Revises: 0014_assessed_risks
Create Date: 2026-12-05 15:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokercare.core.database

revision: str = "0015_monitoring_outbox"
down_revision: str | Sequence[str] | None = "0014_assessed_risks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COPY = """
INSERT INTO outbox_messages (idempotency_key, channel, kind, urgent, customer_id, subject, body,
    origin, origin_ref, state, attempts, next_attempt_at, last_error, provider_message_id,
    created_at, sent_at, delivered_at, read_at)
SELECT n.idempotency_key, n.channel, n.kind, n.urgent, n.customer_id, n.title, n.body,
    'monitoring',
    CASE WHEN n.alert_id IS NOT NULL THEN 'alert:' || CAST(n.alert_id AS VARCHAR(20))
         ELSE substr(n.idempotency_key, 1, 64) END,
    CASE WHEN n.status IN ('sent', 'delivered', 'read') THEN 'sent'
         WHEN n.status = 'failed' THEN 'dead' ELSE 'pending' END,
    n.attempts, n.not_before, n.last_error, n.provider_ref, n.created_at, n.sent_at,
    n.delivered_at, n.read_at
FROM notifications n
WHERE n.status <> 'suppressed'
  AND NOT EXISTS (SELECT 1 FROM outbox_messages o WHERE o.idempotency_key = n.idempotency_key)
"""


def upgrade() -> None:
    op.execute(COPY)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_status"))
        batch_op.drop_index("ix_notifications_due")
        batch_op.drop_index(batch_op.f("ix_notifications_customer_id"))
    op.drop_table("notifications")


def downgrade() -> None:
    """The table comes back empty: the messages stay in the outbox, which sends them."""
    utc = brokercare.core.database.UTCDateTime(timezone=True)
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=140), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("not_before", utc, nullable=False),
        sa.Column("lease_until", utc, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_ref", sa.String(length=80), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("sent_at", utc, nullable=True),
        sa.Column("delivered_at", utc, nullable=True),
        sa.Column("read_at", utc, nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["monitor_alerts.id"],
                                name=op.f("fk_notifications_alert_id_monitor_alerts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_notifications_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notifications_idempotency_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_customer_id"), ["customer_id"],
                              unique=False)
        batch_op.create_index("ix_notifications_due", ["status", "not_before"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_status"), ["status"], unique=False)
