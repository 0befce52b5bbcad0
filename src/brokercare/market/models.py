"""Instruments: A-shares, funds, bonds, ETFs and repos, keyed by exchange symbol."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Price


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


class DailyClose(Base):
    """An instrument's closing price on a trading day: the day's P&L is measured between two of
    them. Recorded after the close from the reference price (``market.record_closes``) or loaded
    from the broker's market-data feed."""

    __tablename__ = "market_daily_closes"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    close: Mapped[Decimal] = mapped_column(Price())
