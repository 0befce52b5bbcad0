"""The advisory domain's tables.

``suitability_confirmations`` keeps every confirmed suitability warning with the exact text the
customer saw (and its hash, which is what goes into the tamper-evident ledger).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class SuitabilityConfirmation(Base):
    __tablename__ = "suitability_confirmations"
    __table_args__ = (Index("ix_suitability_confirmations_customer_time", "customer_id", "confirmed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(32))
    product_risk: Mapped[str] = mapped_column(String(2))
    investor_level: Mapped[str] = mapped_column(String(12))
    decision: Mapped[str] = mapped_column(String(12))
    message: Mapped[str] = mapped_column(Text)
    message_sha256: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(12), default="app")
    ledger_entry_id: Mapped[int | None] = mapped_column(Integer)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
