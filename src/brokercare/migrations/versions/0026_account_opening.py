"""Online account opening: ``onboarding_applications`` (each application and where it stands) and
``onboarding_signed_agreements`` (the texts signed, by hash, with their ledger entries); the
engagement domain's welcome benefit ledger, ``engagement_benefits`` and ``engagement_benefit_uses``.

Revision ID: 0026_account_opening
Revises: 0025_hub_shared_outbox
Create Date: 2026-12-05 20:30:29.573032
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokercare.core.database

revision: str = '0026_account_opening'
down_revision: str | Sequence[str] | None = '0025_hub_shared_outbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('engagement_benefits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('granted_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=48), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_engagement_benefits_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_benefits')),
    sa.UniqueConstraint('customer_id', 'code', name=op.f('uq_engagement_benefits_customer_id'))
    )
    op.create_table('onboarding_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_no', sa.String(length=20), nullable=False),
    sa.Column('phone_hash', sa.String(length=64), nullable=False),
    sa.Column('phone_enc', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('resume_token_hash', sa.String(length=64), nullable=True),
    sa.Column('failed_resumes', sa.Integer(), nullable=False),
    sa.Column('locked_until', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('id_number_hash', sa.String(length=64), nullable=True),
    sa.Column('ocr', sa.JSON(), nullable=True),
    sa.Column('face_similarity', sa.Float(), nullable=True),
    sa.Column('liveness', sa.String(length=8), nullable=True),
    sa.Column('risk_level', sa.String(length=2), nullable=True),
    sa.Column('bank_name', sa.String(length=32), nullable=True),
    sa.Column('card_enc', sa.Text(), nullable=True),
    sa.Column('card_hash', sa.String(length=64), nullable=True),
    sa.Column('card_tail', sa.String(length=4), nullable=True),
    sa.Column('review_reasons', sa.JSON(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('account_no', sa.String(length=20), nullable=True),
    sa.Column('started_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opened_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_onboarding_applications_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_onboarding_applications')),
    sa.UniqueConstraint('application_no', name=op.f('uq_onboarding_applications_application_no')),
    sa.UniqueConstraint('resume_token_hash', name=op.f('uq_onboarding_applications_resume_token_hash'))
    )
    with op.batch_alter_table('onboarding_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_onboarding_applications_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_onboarding_applications_phone_hash'), ['phone_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_onboarding_applications_state'), ['state'], unique=False)

    op.create_table('engagement_benefit_uses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('benefit_id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('used_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['benefit_id'], ['engagement_benefits.id'], name=op.f('fk_engagement_benefit_uses_benefit_id_engagement_benefits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_benefit_uses')),
    sa.UniqueConstraint('benefit_id', 'ref', name=op.f('uq_engagement_benefit_uses_benefit_id'))
    )
    with op.batch_alter_table('engagement_benefit_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engagement_benefit_uses_benefit_id'), ['benefit_id'], unique=False)

    op.create_table('onboarding_signed_agreements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('signed_at', brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ledger_index', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['onboarding_applications.id'], name=op.f('fk_onboarding_signed_agreements_application_id_onboarding_applications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_onboarding_signed_agreements')),
    sa.UniqueConstraint('application_id', 'code', name=op.f('uq_onboarding_signed_agreements_application_id'))
    )
    with op.batch_alter_table('onboarding_signed_agreements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_onboarding_signed_agreements_customer_id'), ['customer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('onboarding_signed_agreements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_onboarding_signed_agreements_customer_id'))

    op.drop_table('onboarding_signed_agreements')
    with op.batch_alter_table('engagement_benefit_uses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engagement_benefit_uses_benefit_id'))

    op.drop_table('engagement_benefit_uses')
    with op.batch_alter_table('onboarding_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_onboarding_applications_state'))
        batch_op.drop_index(batch_op.f('ix_onboarding_applications_phone_hash'))
        batch_op.drop_index(batch_op.f('ix_onboarding_applications_customer_id'))

    op.drop_table('onboarding_applications')
    op.drop_table('engagement_benefits')
