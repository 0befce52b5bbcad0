"""Outbox: every outbound message of every domain (state, tries, lease, encrypted address,
origin), and customers' quiet hours.

Revision ID: 0012_outbox
Revises: 0011_calendar_job_runs
Create Date: 2026-12-05 11:34:59.776331
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokercare.core.database


revision: str = '0012_outbox'
down_revision: str | Sequence[str] | None = '0011_calendar_job_runs'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=160), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('address_enc', sa.Text(), nullable=True),
    sa.Column('address_hint', sa.String(length=64), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=24), nullable=False),
    sa.Column('origin_ref', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('provider_message_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('read_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_messages_idempotency_key'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_messages_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_outbox_messages_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_messages_origin', ['origin', 'origin_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_messages_provider_message_id'), ['provider_message_id'], unique=False)

    op.create_table('outbox_quiet_hours',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('start', sa.Time(), nullable=False),
    sa.Column('end', sa.Time(), nullable=False),
    sa.Column('updated_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_outbox_quiet_hours'))
    )


def downgrade() -> None:
    op.drop_table('outbox_quiet_hours')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_provider_message_id'))
        batch_op.drop_index('ix_outbox_messages_origin')
        batch_op.drop_index('ix_outbox_messages_due')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_customer_id'))

    op.drop_table('outbox_messages')
