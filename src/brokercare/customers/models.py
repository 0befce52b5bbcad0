"""The customer data platform's tables: identity, family and life events, the latest assessed
risk (a copy of the advisory domain's assessment), behaviour events, computed profiles and tier
history.

Personal data of class 3 and 4 (ID number, phone, address) is stored only encrypted
(``*_enc``, see :mod:`brokercare.security.crypto`), with a keyed hash (``*_hash``) where the
platform must look a customer up by it (identity resolution by phone, import by ID number).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Money, UTCDateTime, utcnow


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_no: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    gender: Mapped[str] = mapped_column(String(1))  # M / F
    birth_date: Mapped[date] = mapped_column(Date)
    id_number_enc: Mapped[str] = mapped_column(Text)
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    phone_enc: Mapped[str] = mapped_column(Text)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=True)
    address_enc: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(120))
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    province: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(16), index=True)
    occupation: Mapped[str] = mapped_column(String(32))
    education: Mapped[str | None] = mapped_column(String(16))
    annual_income: Mapped[Decimal | None] = mapped_column(Money())
    marital_status: Mapped[str | None] = mapped_column(String(12))  # single, married, divorced, widowed
    branch_code: Mapped[str] = mapped_column(String(8), index=True)
    manager_id: Mapped[int | None] = mapped_column(Integer, index=True)  # security.users.id
    advisor_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the assigned 投顾 (users.id)
    opened_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active, dormant, closed
    risk_level: Mapped[str | None] = mapped_column(String(2))  # C1..C5, latest valid assessment
    investor_type: Mapped[str] = mapped_column(String(16), default="ordinary")  # or professional
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class FamilyMember(Base):
    __tablename__ = "family_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str] = mapped_column(String(12))  # spouse, child, parent
    birth_year: Mapped[int | None] = mapped_column(Integer)


class LifeEvent(Base):
    __tablename__ = "life_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    # marriage, child_birth, child_school, house_purchase, job_change, promotion, relocation, retirement
    kind: Mapped[str] = mapped_column(String(24))
    occurred_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(200))


class AssessedRisk(Base):
    """The customer's latest risk assessment as the advisory domain announced it (``risk.assessed``).

    The advisory domain owns the assessments; this copy is what the CDP's risk features read, kept
    current by the event handler (one row per assessed customer).
    """

    __tablename__ = "assessed_risks"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    assessment_id: Mapped[int] = mapped_column(Integer)  # the advisory domain's id of the latest
    level: Mapped[str] = mapped_column(String(2))  # C1..C5
    score: Mapped[int] = mapped_column(Integer)
    assessed_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    assessments: Mapped[int] = mapped_column(Integer, default=1)  # how many the customer has taken


class BehaviourEvent(Base):
    """App and web behaviour: logins (with IP and device), page views, searches, content reads."""

    __tablename__ = "behaviour_events"
    __table_args__ = (Index("ix_behaviour_events_customer_time", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))  # login, page_view, search, content_read
    channel: Mapped[str] = mapped_column(String(12), default="app")
    page: Mapped[str | None] = mapped_column(String(64))
    query: Mapped[str | None] = mapped_column(String(120))
    topic: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(45))
    device_id: Mapped[str | None] = mapped_column(String(64))
    geo_city: Mapped[str | None] = mapped_column(String(16))
    duration_s: Mapped[int | None] = mapped_column(Integer)


class CustomerProfile(Base):
    """The computed profile: features (see the feature registry), tags, tier and life stage."""

    __tablename__ = "customer_profiles"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    aum: Mapped[Decimal] = mapped_column(Money())
    tier: Mapped[str] = mapped_column(String(12), index=True)  # vip, potential, mass, long_tail
    high_net_worth: Mapped[bool] = mapped_column(Boolean, default=False)
    life_stage: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    features: Mapped[dict] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TierChange(Base):
    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    from_tier: Mapped[str | None] = mapped_column(String(12))
    to_tier: Mapped[str] = mapped_column(String(12))
    aum: Mapped[Decimal] = mapped_column(Money())
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(String(32), default="aum")


class SearchQuota(Base):
    """Each member of staff's customer searches in the current minute, counted in the database so
    every server process shares one limit (:mod:`brokercare.customers.search`)."""

    __tablename__ = "customer_search_quota"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    used: Mapped[int] = mapped_column(Integer, default=0)
