"""Customers: ``assessed_risks``, the CDP's copy of each customer's latest risk assessment.

``risk_assessments`` keeps its name and rows; it now belongs to the advisory domain, which
announces every new assessment as ``risk.assessed``. The customers domain keeps the latest one per
customer (and how many were taken) from those events; this revision fills the copy from the
assessments already stored, latest by (assessed_on, id) as the profile engine picked it.

Revision ID: 0014_assessed_risks
Revises: 0013_risk
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_assessed_risks"
down_revision: str | Sequence[str] | None = "0013_risk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assessed_risks",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=2), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("assessments", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_assessed_risks_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_assessed_risks")),
    )
    op.execute(
        """
        INSERT INTO assessed_risks (customer_id, assessment_id, level, score, assessed_on, valid_until, assessments)
        SELECT r.customer_id, r.id, r.level, r.score, r.assessed_on, r.valid_until, n.taken
        FROM risk_assessments r
        JOIN (SELECT customer_id, COUNT(*) AS taken FROM risk_assessments GROUP BY customer_id) n
          ON n.customer_id = r.customer_id
        WHERE NOT EXISTS (
            SELECT 1 FROM risk_assessments later
            WHERE later.customer_id = r.customer_id
              AND (later.assessed_on > r.assessed_on OR (later.assessed_on = r.assessed_on AND later.id > r.id))
        )
        """
    )


def downgrade() -> None:
    op.drop_table("assessed_risks")
