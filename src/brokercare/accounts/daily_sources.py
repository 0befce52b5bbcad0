"""A day's holdings and trades for a range of customer ids, in bulk (the post-close report).

One grouped query each, straight from the driver into Polars: the engagement domain computes a
million customers' daily P&L from these columns, never one ORM object at a time. Quantities and
prices are float64 (the report is a vectorised engine; statements keep exact decimals).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import Connection, Float, cast, func, select

from brokercare.accounts.models import Account, Position, Trade
from brokercare.core.bulkread import read_frame, sum_if


def holdings_frame(conn: Connection, *, lo: int, hi: int) -> pl.DataFrame:
    """Positions of open accounts of customers ``lo..hi`` (quantity > 0): customer, account kind,
    symbol, quantity and cost price, one row per customer, kind and symbol (two accounts of one
    kind holding the same share are added up, cost weighted by quantity).

    Read as plain rows in key order and combined in Polars only where a key repeats: a GROUP BY
    over every position costs SQLite more than the read itself.
    """
    keys = ["customer_id", "account_kind", "symbol"]
    frame = read_frame(conn, select(
        Account.customer_id, Account.kind, Position.symbol, cast(Position.quantity, Float),
        cast(Position.cost_price, Float),
    ).join(Account, Account.id == Position.account_id).where(
        Account.customer_id.between(lo, hi), Account.status != "closed", Position.quantity > 0,
    ).order_by(Account.customer_id, Account.kind, Position.symbol),
        {"customer_id": pl.Int64, "account_kind": pl.String, "symbol": pl.String,
         "quantity": pl.Float64, "cost_price": pl.Float64})
    same = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys])
    repeated = frame.with_columns(r=same.fill_null(False) | same.shift(-1).fill_null(False))["r"]
    if not repeated.any():
        return frame
    merged = frame.filter(repeated).group_by(keys).agg(
        quantity=pl.col("quantity").sum(),
        cost_price=(pl.col("quantity") * pl.col("cost_price")).sum() / pl.col("quantity").sum())
    return pl.concat([frame.filter(~repeated), merged.select(frame.columns)]).sort(keys)


def trades_frame(conn: Connection, *, lo: int, hi: int, start: datetime, end: datetime) -> pl.DataFrame:
    """Trades in ``[start, end)`` of customers ``lo..hi`` per customer, account kind and symbol:
    shares and amounts bought and sold, and the fees paid (commission, stamp duty, transfer fee)."""
    t = Trade
    buy, sell = t.side == "buy", t.side == "sell"
    return read_frame(conn, select(
        Account.customer_id, Account.kind, t.symbol,
        cast(sum_if(buy, t.quantity), Float), cast(sum_if(buy, t.amount), Float),
        cast(sum_if(sell, t.quantity), Float), cast(sum_if(sell, t.amount), Float),
        cast(func.sum(t.commission + t.stamp_duty + t.transfer_fee), Float),
    ).join(Account, Account.id == t.account_id).where(
        Account.customer_id.between(lo, hi), t.traded_at >= start, t.traded_at < end,
    ).group_by(Account.customer_id, Account.kind, t.symbol),
        {"customer_id": pl.Int64, "account_kind": pl.String, "symbol": pl.String,
         "bought": pl.Float64, "bought_amount": pl.Float64, "sold": pl.Float64,
         "sold_amount": pl.Float64, "fees": pl.Float64})
