"""Monitoring tables: alert rules, alerts, the notification outbox, margin calls and the IPO calendar."""

from __future__ import annotations

from datetime import date, datetime, time
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
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Money, Price, Ratio, UTCDateTime, utcnow


class AlertPreference(Base):
    """A customer's own alert rules; a customer without a row gets the defaults."""

    __tablename__ = "monitor_preferences"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    move_pct: Mapped[Decimal] = mapped_column(Ratio(), default=Decimal("0.05"))
    window_min: Mapped[int] = mapped_column(Integer, default=10)
    volume_ratio: Mapped[Decimal] = mapped_column(Ratio(), default=Decimal("3"))
    limit_alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[time | None] = mapped_column(Time)  # Beijing time
    quiet_end: Mapped[time | None] = mapped_column(Time)
    hourly_cap: Mapped[int] = mapped_column(Integer, default=6)
    channels: Mapped[list] = mapped_column(JSON, default=lambda: ["app"])
    margin_forecast_threshold: Mapped[Decimal] = mapped_column(Ratio(), default=Decimal("0.5"))
    # The post-close daily report (每日收盘报告) pushed to the app: the customer opts in.
    daily_report: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Alert(Base):
    """One fired condition. ``dedup_key`` is deterministic, so a re-run can never write it twice."""

    __tablename__ = "monitor_alerts"
    __table_args__ = (Index("ix_monitor_alerts_customer_time", "customer_id", "fired_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    symbol: Mapped[str | None] = mapped_column(String(16))
    # move_up, move_down, limit_up, limit_down, volume_spike, margin_warning, margin_liquidation,
    # margin_forecast_warning, margin_forecast_liquidation, ipo_*
    rule: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(8), default="info")  # info, warning, urgent
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    change_pct: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MarginCall(Base):
    """A collateral top-up demand opened when an account fell below its warning line."""

    __tablename__ = "margin_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("margin_contracts.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    line: Mapped[str] = mapped_column(String(12))  # warning, liquidation
    ratio: Mapped[Decimal] = mapped_column(Ratio())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[date] = mapped_column(Date)  # top up by the close of this trading day
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, met, liquidated


class IpoIssue(Base):
    """A new share issue on the subscription calendar (T = subscription day)."""

    __tablename__ = "ipo_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)  # subscription code (申购代码)
    symbol: Mapped[str] = mapped_column(String(16))  # the future listed symbol
    name: Mapped[str] = mapped_column(String(32))
    exchange: Mapped[str] = mapped_column(String(4))  # SH, SZ, BJ
    board: Mapped[str] = mapped_column(String(12))  # main, chinext, star, bse
    subscribe_on: Mapped[date] = mapped_column(Date, index=True)
    price: Mapped[Decimal] = mapped_column(Price())
    max_shares: Mapped[int] = mapped_column(Integer)  # 申购上限 per account
    results_on: Mapped[date] = mapped_column(Date)  # T+2 winning-lot announcement
    payment_on: Mapped[date] = mapped_column(Date)  # T+2, pay by 16:00
    listing_on: Mapped[date | None] = mapped_column(Date)
    industry: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(120))


class IpoApplication(Base):
    __tablename__ = "ipo_applications"
    __table_args__ = (UniqueConstraint("customer_id", "issue_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    issue_id: Mapped[int] = mapped_column(ForeignKey("ipo_issues.id", ondelete="CASCADE"))
    shares: Mapped[int] = mapped_column(Integer)
    quota: Mapped[int] = mapped_column(Integer)
    won_shares: Mapped[int] = mapped_column(Integer, default=0)
    # applied, lost, won, paid, abandoned (won but not paid by 16:00 on T+2)
    status: Mapped[str] = mapped_column(String(12), default="applied")
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MarketValueDaily(Base):
    """A customer's non-restricted A-share market value per exchange at a day's close (IPO quota)."""

    __tablename__ = "market_value_daily"
    __table_args__ = (UniqueConstraint("customer_id", "day", "exchange"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    exchange: Mapped[str] = mapped_column(String(4))  # SH, SZ (STAR counts in SH)
    value: Mapped[Decimal] = mapped_column(Money())


class MarketTemperature(Base):
    """A board's market temperature, one row per board and minute (the minute's latest snapshot).

    The newest row of a board is its current temperature; the rows before it are a short history
    (kept for ``service.TEMPERATURE_HISTORY_DAYS``)."""

    __tablename__ = "monitor_temperatures"
    __table_args__ = (UniqueConstraint("board", "minute"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    board: Mapped[str] = mapped_column(String(12))  # main, chinext, star, bse
    minute: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())  # the snapshot the values come from
    score: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(8))  # 过冷 偏冷 正常 偏热 过热
    breadth: Mapped[float] = mapped_column(Float)
    limit_up: Mapped[int] = mapped_column(Integer)
    limit_down: Mapped[int] = mapped_column(Integer)
    activity: Mapped[float] = mapped_column(Float)
    quoted: Mapped[int] = mapped_column(Integer)
