"""Users (staff and customers) and the wrapped data keys of field encryption."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class User(Base):
    """A login. Staff have a role; a customer user has ``role='customer'`` and a customer id. How
    the service hub routes to staff (skills, chat slots, team lead) is the hub's agent profile."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(32))
    # agent, advisor, customer_manager, risk, compliance, admin, team_lead, customer
    role: Mapped[str] = mapped_column(String(20), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    branch_code: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Consecutive wrong passwords; at LOCK_AFTER the login is locked until ``locked_until``.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped on logout, password change and role change: every token issued before stops working.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # RFC 6238 TOTP secret (base32), sealed by the field cipher like other class-4 data.
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    # The last RFC 6238 time step accepted, so a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class DataKey(Base):
    """An AES-256 data key, stored wrapped (encrypted) by the master key."""

    __tablename__ = "data_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    wrapped_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # active, retired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RoleGrant(Base):
    """A request to give a login a privileged role (compliance, admin): it takes effect only when a
    second administrator approves it (segregation of duties)."""

    __tablename__ = "security_role_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, approved, rejected
    decided_by: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccessRead(Base):
    """One customer's data read by a member of staff: the searchable index of the ledger's
    ``access.read`` entries (the entry at ``ledger_index`` is the tamper-evident record)."""

    __tablename__ = "security_access_reads"
    __table_args__ = (
        Index("ix_security_access_reads_customer", "customer_id", "id"),
        Index("ix_security_access_reads_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_index: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int] = mapped_column(Integer)
    # serving_conversation, customer_manager, assigned_advisor, risk_case, margin_watchlist,
    # compliance_review
    relationship: Mapped[str] = mapped_column(String(24))
    reference: Mapped[str | None] = mapped_column(String(48))  # e.g. conversation:12
    what: Mapped[str] = mapped_column(String(400))  # comma-separated, e.g. positions,margin
    why: Mapped[str] = mapped_column(String(200))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
