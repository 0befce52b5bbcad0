"""Per-customer money flows and trading of a time window, for the service-quality domain's churn
model (features before a cut-off, the label after it): one grouped query each, so only
per-customer aggregates leave the domain. Money in whole fen (BIGINT), exact on both backends."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import BigInteger, Connection, cast, func, select

from brokercare.accounts.models import Account, CashMovement, Trade
from brokercare.core.bulkread import UTC_TS, fen, read_frame, sum_if


def bank_flows(conn: Connection, *, start: datetime, end: datetime) -> pl.DataFrame:
    """Completed 银证转账 of ``[start, end)`` per customer: money in and out (fen, both positive)
    and how many transfers went out. Customers without one are absent."""
    out = CashMovement.kind == "bank_out"
    amount = func.abs(CashMovement.amount)
    return read_frame(conn, select(
        Account.customer_id,
        cast(fen(sum_if(CashMovement.kind == "bank_in", amount)), BigInteger),
        cast(fen(sum_if(out, amount)), BigInteger),
        sum_if(out),
    ).select_from(CashMovement).join(Account, Account.id == CashMovement.account_id)
        .where(CashMovement.kind.in_(("bank_in", "bank_out")), CashMovement.status == "done",
               CashMovement.occurred_at >= start, CashMovement.occurred_at < end)
        .group_by(Account.customer_id),
        {"customer_id": pl.Int64, "in_fen": pl.Int64, "out_fen": pl.Int64, "transfers_out": pl.Int64})


def last_trades(conn: Connection, *, before: datetime) -> pl.DataFrame:
    """Each customer's latest trade before ``before`` (never one after it) and how many trades
    they made before then."""
    return read_frame(conn, select(Account.customer_id, func.max(Trade.traded_at), func.count())
                      .select_from(Trade).join(Account, Account.id == Trade.account_id)
                      .where(Trade.traded_at < before).group_by(Account.customer_id),
                      {"customer_id": pl.Int64, "last_trade_at": UTC_TS, "trades": pl.Int64})
