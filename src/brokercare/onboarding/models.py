"""The onboarding domain's tables: each online opening application with where it stands, and the
agreements its applicant signed (the ledger holds the tamper-evident record of each signature)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class OpeningApplication(Base):
    """One online opening, through ``started`` → ``identity_verified`` → ``risk_assessed`` →
    ``agreement_signed`` → ``bank_bound`` → ``opened``, or ``in_review`` (what the checks could
    not clear waits for the back office) → ``opened`` | ``rejected``.

    The applicant comes back with their phone and the password they chose (``resume``); personal
    data lives in the customers domain once the identity step creates the customer; the phone and
    the card are kept here only encrypted, with their blind indexes.
    """

    __tablename__ = "onboarding_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_no: Mapped[str] = mapped_column(String(20), unique=True)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    phone_enc: Mapped[str] = mapped_column(Text)  # the login to be, sealed like every class-3 field
    password_hash: Mapped[str] = mapped_column(String(200))
    resume_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    failed_resumes: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(20), default="started", index=True)
    channel: Mapped[str] = mapped_column(String(12), default="web")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    id_number_hash: Mapped[str | None] = mapped_column(String(64))
    ocr: Mapped[dict | None] = mapped_column(JSON)  # what the vendor read, as match flags (no PII)
    face_similarity: Mapped[float | None] = mapped_column(Float)
    liveness: Mapped[str | None] = mapped_column(String(8))  # passed, failed
    risk_level: Mapped[str | None] = mapped_column(String(2))
    bank_name: Mapped[str | None] = mapped_column(String(32))
    card_enc: Mapped[str | None] = mapped_column(Text)
    card_hash: Mapped[str | None] = mapped_column(String(64))
    card_tail: Mapped[str | None] = mapped_column(String(4))
    review_reasons: Mapped[list] = mapped_column(JSON, default=list)  # [{"code": ..., "text": ...}]
    reviewer_id: Mapped[int | None] = mapped_column(Integer)  # security.users.id
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_note: Mapped[str | None] = mapped_column(Text)  # the reason a rejected applicant reads
    account_no: Mapped[str | None] = mapped_column(String(20))
    # what 中国结算 issued (also on the account): 一码通, Shanghai and Shenzhen securities accounts
    one_code_no: Mapped[str | None] = mapped_column(String(12))
    sh_holder_no: Mapped[str | None] = mapped_column(String(12))
    sz_holder_no: Mapped[str | None] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignedAgreement(Base):
    """An agreement signed electronically: which text (code, version, SHA-256 of its exact UTF-8
    bytes), when, by whom, and the ledger entry that records it."""

    __tablename__ = "onboarding_signed_agreements"
    __table_args__ = (UniqueConstraint("application_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("onboarding_applications.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ledger_index: Mapped[int] = mapped_column(Integer)


class StartQuota(Base):
    """Opening applications started from one source IP address (its keyed hash: the address itself
    is not kept) in the current hour or day, shared by every server process
    (:func:`brokercare.core.quota.count_use`)."""

    __tablename__ = "onboarding_start_quota"

    ip_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(4), primary_key=True)  # hour, day
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    used: Mapped[int] = mapped_column(Integer, default=0)
