"""Margin (融资融券) accounts: the maintenance collateral ratio (维持担保比例) — total assets ÷ total
liabilities — in one definition for Decimal, NumPy and Polars (the workbench, the assistant, the
CDP and the monitoring evaluator read the same number), securities-lending debt at the valuation
price (an account's margin status against its contract's lines is ``service.margin_status``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import overload

import numpy as np
import polars as pl
from sqlalchemy import ColumnElement, Connection, case, func, select
from sqlalchemy.orm import Session

from brokercare.accounts import profile_sources
from brokercare.accounts.models import MarginContract, MarginShort
from brokercare.core.database import money
from brokercare.market.service import instruments_by_symbol, instruments_sql, valuations

#: Ratios are kept to four decimals (0.01 %), as the contracts state them.
RATIO_STEP = Decimal("0.0001")


@dataclass(frozen=True)
class ShortPosition:
    """Shares a margin contract owes (融券), valued at the reference price (None without one)."""

    symbol: str
    name: str
    quantity: Decimal
    last_price: Decimal | None
    market_value: Decimal | None


def lending_debt(session: Session, contract: MarginContract) -> tuple[Decimal, tuple[ShortPosition, ...], bool]:
    """融券负债 at the reference price, the shares behind it, and whether it was re-priced.

    A contract without shares on record, or owing a share that has no reference price, keeps its
    marked ``lending_debt``: valuing an unpriced short at zero would flatter the ratio.
    """
    owed = list(session.scalars(
        select(MarginShort).where(MarginShort.contract_id == contract.id, MarginShort.quantity > 0)
        .order_by(MarginShort.symbol)
    ))
    instruments = instruments_by_symbol(session, (s.symbol for s in owed))
    prices = valuations(session, instruments)
    shorts: list[ShortPosition] = []
    for s in owed:
        name, price = instruments[s.symbol].name, getattr(prices.get(s.symbol), "price", None)
        shorts.append(ShortPosition(symbol=s.symbol, name=name, quantity=s.quantity, last_price=price,
                                    market_value=None if price is None else money(s.quantity * price)))
    if not shorts or any(s.market_value is None for s in shorts):
        return money(contract.lending_debt), tuple(shorts), False
    return sum((s.market_value for s in shorts), Decimal("0.00")), tuple(shorts), True


def lending_debt_sql() -> ColumnElement[Decimal]:
    """融券负债 of ``MarginContract`` rows in SQL, by the rule of :func:`lending_debt` (for bulk reads).

    Shares owed × reference price when every short is priced, else the marked ``lending_debt``.
    """
    inst = instruments_sql()
    owed = (
        select(case((func.count() == func.count(inst.c.last_price),
                     func.sum(MarginShort.quantity * inst.c.last_price))))
        .select_from(MarginShort)
        .join(inst, inst.c.symbol == MarginShort.symbol)
        .where(MarginShort.contract_id == MarginContract.id, MarginShort.quantity > 0)
        .correlate(MarginContract)
        .scalar_subquery()
    )
    return func.coalesce(owed, MarginContract.lending_debt)


@overload
def maintenance_ratio(assets: Decimal, liabilities: Decimal) -> Decimal | None: ...
@overload
def maintenance_ratio(assets: np.ndarray, liabilities: np.ndarray) -> np.ndarray: ...
@overload
def maintenance_ratio(assets: pl.Expr, liabilities: pl.Expr) -> pl.Expr: ...
def maintenance_ratio(assets, liabilities):
    """维持担保比例 = total assets ÷ total liabilities, of one margin account or of a whole book.

    One account in ``Decimal`` (the workbench, the assistant, statements): rounded half up to four
    places (1.3636 = 136.36 %), ``None`` when nothing is owed. A book as NumPy arrays (the
    monitoring evaluator, the crossing forecast): float64 per account, NaN where nothing is owed,
    so an account without debt is never below a line (every comparison with NaN is false). A
    Polars column expression (the CDP's features): Float64, null where nothing is owed.
    """
    if isinstance(liabilities, Decimal):
        return (assets / liabilities).quantize(RATIO_STEP, ROUND_HALF_UP) if liabilities > 0 else None
    if isinstance(liabilities, pl.Expr):
        return pl.when(liabilities > 0).then(assets.cast(pl.Float64) / liabilities).otherwise(None)
    owed = np.asarray(liabilities, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(owed > 0, np.asarray(assets, dtype=np.float64) / owed, np.nan)


def margin_by_customer(conn: Connection, *, lo: int, hi: int) -> pl.DataFrame:
    """Active margin contracts of customers ``lo..hi`` aggregated per customer, 融券 debt by
    :func:`lending_debt_sql` (see :func:`brokercare.accounts.profile_sources.margin_by_customer`)."""
    return profile_sources.margin_by_customer(conn, lo=lo, hi=hi, lending_debt=lending_debt_sql())
