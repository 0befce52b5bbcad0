"""The engagement domain's tables: stored daily reports, leads for managers, the proactive
contacts the frequency cap counts, and managers' tasks."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Money, UTCDateTime, utcnow


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


class Lead(Base):
    """A need predicted for a customer, handed to their manager: why, what to say, and how it
    ended (``new`` → ``contacted`` → ``won`` / ``lost``, with the outcome and the amount won)."""

    __tablename__ = "engagement_leads"
    __table_args__ = (Index("ix_engagement_leads_customer_need", "customer_id", "need", "raised_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    need: Mapped[str] = mapped_column(String(32))
    manager_id: Mapped[int | None] = mapped_column(Integer, index=True)  # security.users.id
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    talking_points: Mapped[list] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12), default="new", index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Money())
    raised_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Touch(Base):
    """One proactive contact with a customer (a report push, a lead, a greeting, an alert call):
    what the per-customer frequency cap counts. ``sent`` is false for one the cap held back."""

    __tablename__ = "engagement_touches"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    ref: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, index=True)
    sent: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ManagerTask(Base):
    """Something a customer manager must do by ``due_at`` (a VIP's holding at limit-down: call
    within 15 minutes), with the suggested script; ``key`` makes raising it idempotent."""

    __tablename__ = "engagement_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(96), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    manager_id: Mapped[int | None] = mapped_column(Integer, index=True)  # security.users.id
    kind: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(Text)
    script: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Benefit(Base):
    """A welcome benefit granted to a customer (``commission_waiver`` for the first N trades, a
    ``course``): how many uses it carries, how many are spent, and until when it is valid."""

    __tablename__ = "engagement_benefits"
    __table_args__ = (UniqueConstraint("customer_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(24))  # commission_waiver, course
    title: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    valid_until: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(48))  # e.g. account:100000000123


class BenefitUse(Base):
    """One use of a benefit: the trade whose commission it waived (``ref`` = the trade event's
    id), or the course started; unique per benefit and ref, so a redelivered event is one use."""

    __tablename__ = "engagement_benefit_uses"
    __table_args__ = (UniqueConstraint("benefit_id", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    benefit_id: Mapped[int] = mapped_column(ForeignKey("engagement_benefits.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Money())  # the commission waived, 元
    detail: Mapped[str | None] = mapped_column(Text)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Specialist(Base):
    """A member of staff who serves VIP customers as the specialist of one skill (投顾, 融资融券,
    理财 …, ``data/tier_services.yaml``): the pool the "N" of a 1+N team is drawn from."""

    __tablename__ = "engagement_specialists"
    __table_args__ = (UniqueConstraint("user_id", "skill"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)  # security.users.id
    skill: Mapped[str] = mapped_column(String(24))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TeamMember(Base):
    """One specialist of a VIP customer's 1+N team (the "1" is the customer's own manager)."""

    __tablename__ = "engagement_team_members"
    __table_args__ = (UniqueConstraint("customer_id", "skill"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    skill: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[int] = mapped_column(Integer, index=True)  # security.users.id
    assigned_on: Mapped[date] = mapped_column(Date)


class Watch(Base):
    """The last nightly verdict on something watched for a customer (a goal, a package's drift, a
    holding's valuation): the customer and the manager are told when it turns bad, once, not
    every night it stays bad. ``notified`` is false while the frequency cap held the message."""

    __tablename__ = "engagement_watches"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # goal:12, package:12, valuation:3:000300
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    bad: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[date] = mapped_column(Date)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict] = mapped_column(JSON)
    checked_on: Mapped[date] = mapped_column(Date)


class ContentProgress(Base):
    """A customer's progress on one item of the education library (``data/content``): an article
    or video marked done, a quiz's attempts with the best score and whether it was passed.
    ``state``: ``done`` (read or watched), ``passed`` or ``failed`` (a quiz's best attempt)."""

    __tablename__ = "engagement_content_progress"
    __table_args__ = (UniqueConstraint("customer_id", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(48))
    kind: Mapped[str] = mapped_column(String(12))  # article, video, quiz
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    best_score: Mapped[int | None] = mapped_column(Integer)  # correct answers of the best attempt
    last_answers: Mapped[dict | None] = mapped_column(JSON)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CommunityMember(Base):
    """A customer who joined a themed community (``data/communities.yaml``)."""

    __tablename__ = "engagement_community_members"
    __table_args__ = (UniqueConstraint("community", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str] = mapped_column(String(32), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CommunityPost(Base):
    """A post or a reply (``parent_id``) in a community, by a member or the host (``user_id``).
    ``state``: ``published``, ``held`` (the compliance guard stopped it: ``held_reason`` says why
    in Chinese, visible to its author and the host) or ``rejected`` by the host after review."""

    __tablename__ = "engagement_community_posts"
    __table_args__ = (Index("ix_engagement_community_posts_room", "community", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("engagement_community_posts.id", ondelete="CASCADE"),
                                                  index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)  # security.users.id of a staff author (the host)
    author: Mapped[str] = mapped_column(String(40))  # the name shown: a customer's is masked (王**)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))
    held_reason: Mapped[str | None] = mapped_column(Text)
    violations: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    moderated_by: Mapped[int | None] = mapped_column(Integer)  # security.users.id
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    moderation_note: Mapped[str | None] = mapped_column(Text)
