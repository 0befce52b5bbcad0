"""The engagement domain's tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class DailyReport(Base):
    """A customer's post-close report of one day as it was written that evening (positions move
    on; the report the push linked to must not)."""

    __tablename__ = "engagement_daily_reports"
    __table_args__ = (UniqueConstraint("customer_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
