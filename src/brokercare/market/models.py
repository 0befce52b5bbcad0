"""Instruments (A-shares, funds, bonds, ETFs and repos, keyed by exchange symbol) and their prices:
the latest quote of each, the day's minute bars and the daily bars history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Price, UTCDateTime


class Instrument(Base):
    """One tradable or subscribable product.

    ``symbol`` is ``<code>.<exchange>``: ``600519.SH``, ``300750.SZ``, ``430047.BJ``; OTC funds
    use the exchange ``OF`` (``000001.OF``) because a 6-digit fund code may equal a stock code.
    """

    __tablename__ = "instruments"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(10), index=True)
    exchange: Mapped[str] = mapped_column(String(4))  # SH, SZ, BJ, OF
    name: Mapped[str] = mapped_column(String(64), index=True)
    # stock, etf, fund, bond, convertible, repo, index
    kind: Mapped[str] = mapped_column(String(16), index=True)
    # main, chinext, star, bse; for funds the fund type (money, bond, index, equity, mixed, gold, qdii)
    board: Mapped[str] = mapped_column(String(16))
    industry: Mapped[str | None] = mapped_column(String(32))
    area: Mapped[str | None] = mapped_column(String(16))
    listed_on: Mapped[date | None] = mapped_column(Date)
    is_st: Mapped[bool] = mapped_column(Boolean, default=False)
    lot_size: Mapped[int] = mapped_column(Integer, default=100)
    risk_rating: Mapped[str | None] = mapped_column(String(2))  # R1..R5 for products
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # Reference price used to value holdings when no live quote has arrived yet.
    last_price: Mapped[Decimal | None] = mapped_column(Price())
    price_source: Mapped[str | None] = mapped_column(String(16))  # history, nav, index, par, modelled (see data/SOURCE.md)


class Quote(Base):
    """The latest price of an instrument: a live snapshot, or the last close loaded from bars.

    One row per instrument, so valuing a million positions joins a few thousand rows. ``source``
    says which: ``feed`` (a snapshot from ``POST /market/quotes``) or ``close`` (the close of the
    newest daily bar loaded). ``volume`` is the day's cumulative volume at ``time``.
    """

    __tablename__ = "quotes"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    price: Mapped[Decimal] = mapped_column(Price())
    prev_close: Mapped[Decimal | None] = mapped_column(Price())
    volume: Mapped[float] = mapped_column(Float, default=0.0)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    source: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OHLCV:
    """The prices and volume of a bar (yuan; shares; yuan traded when the source gives it)."""

    open: Mapped[Decimal] = mapped_column(Price())
    high: Mapped[Decimal] = mapped_column(Price())
    low: Mapped[Decimal] = mapped_column(Price())
    close: Mapped[Decimal] = mapped_column(Price())
    volume: Mapped[float] = mapped_column(Float, default=0.0)
    amount: Mapped[float | None] = mapped_column(Float)


class MinuteBar(OHLCV, Base):
    """An intraday bar keyed by its end time (09:31 is the bar 09:30-09:31), of 1 or 5 minutes."""

    __tablename__ = "minute_bars"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer, default=1)


class DailyBar(OHLCV, Base):
    """One trading day of an instrument, as the broker's market data gives it."""

    __tablename__ = "daily_bars"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
