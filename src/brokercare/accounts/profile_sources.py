"""Per-customer aggregates of accounts, holdings and trading for a range of customer ids.

The customer data platform computes a million profiles a night from these (through
:mod:`brokercare.accounts.service`): each read is one grouped query over this domain's tables,
joined in the database with the market's read-only instrument view, so only per-customer
aggregates cross into Python. Money is whole fen (BIGINT), exact on both backends. Windows (30, 90
and 365 days) end at ``at``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import BigInteger, Connection, Float, and_, case, cast, func, select
from sqlalchemy.sql import ColumnElement

from brokercare.accounts.fund_settlement import unsettled
from brokercare.accounts.models import (
    Account,
    CashMovement,
    FundOrder,
    MarginContract,
    Order,
    Position,
    Trade,
)
from brokercare.core.bulkread import UTC_TS, count_if, date_text, fen, read_frame, sum_if
from brokercare.market.service import instruments_sql


def _windows(at: datetime) -> tuple[datetime, datetime, datetime]:
    return at - timedelta(days=30), at - timedelta(days=90), at - timedelta(days=365)


def holdings_by_customer(conn: Connection, *, lo: int, hi: int) -> pl.DataFrame:
    """Holdings grouped by customer, account kind and the instrument's kind, board, currency, risk
    rating and ST flag: count, market value (reference price, cost without one), cost, the sum of
    squared values (concentration), the largest holding, losing holdings, the oldest opening."""
    inst = instruments_sql()
    price = func.coalesce(inst.c.last_price, Position.cost_price)
    mv = func.round(Position.quantity * price * 100)
    cost = func.round(Position.quantity * Position.cost_price * 100)
    mv_yuan = Position.quantity * price
    return read_frame(
        conn,
        select(
            Account.customer_id, Account.kind, inst.c.kind, inst.c.board, inst.c.currency,
            inst.c.risk_rating, inst.c.is_st,
            func.count(), cast(func.sum(mv), BigInteger), cast(func.sum(cost), BigInteger),
            cast(func.sum(mv_yuan * mv_yuan), Float), cast(func.max(mv), BigInteger),
            sum_if(mv < cost), date_text(func.min(Position.opened_on)),
        )
        .select_from(Position)
        .join(Account, Account.id == Position.account_id)
        .join(inst, inst.c.symbol == Position.symbol)
        .where(Account.customer_id.between(lo, hi), Position.quantity > 0)
        .group_by(Account.customer_id, Account.kind, inst.c.kind, inst.c.board,
                  inst.c.currency, inst.c.risk_rating, inst.c.is_st),
        {"customer_id": pl.Int64, "account_kind": pl.String, "kind": pl.String, "board": pl.String,
         "currency": pl.String, "risk_rating": pl.String, "is_st": pl.Boolean, "n": pl.Int64,
         "mv": pl.Int64, "cost": pl.Int64, "mv2": pl.Float64, "max_mv": pl.Int64,
         "losing": pl.Int64, "first_opened": pl.String},
    )


def cash_by_customer(conn: Connection, *, lo: int, hi: int) -> pl.DataFrame:
    """Cash, frozen cash and redemption money in transit (confirmed, not yet arrived: it counts in
    the customer's assets but not in what they can spend) of open accounts, by customer, account
    kind and currency."""
    transit = (select(FundOrder.account_id, func.sum(FundOrder.proceeds).label("amount"))
               .where(*unsettled(), FundOrder.customer_id.between(lo, hi))
               .group_by(FundOrder.account_id).subquery())
    return read_frame(
        conn,
        select(
            Account.customer_id, Account.kind, Account.currency, func.count(),
            cast(func.sum(fen(Account.cash_balance)), BigInteger),
            cast(func.sum(fen(Account.frozen_cash)), BigInteger),
            cast(func.coalesce(func.sum(fen(transit.c.amount)), 0), BigInteger),
        )
        .outerjoin(transit, transit.c.account_id == Account.id)
        .where(Account.customer_id.between(lo, hi), Account.status != "closed")
        .group_by(Account.customer_id, Account.kind, Account.currency),
        {"customer_id": pl.Int64, "account_kind": pl.String, "currency": pl.String, "n": pl.Int64,
         "cash": pl.Int64, "frozen": pl.Int64, "in_transit": pl.Int64},
    )


def margin_by_customer(conn: Connection, *, lo: int, hi: int, lending_debt: ColumnElement) -> pl.DataFrame:
    """Active margin contracts by customer: financing, 融券 debt (``lending_debt``, the service's
    SQL rule), interest due, credit limit, the strictest lines and the earliest end date."""
    return read_frame(
        conn,
        select(
            Account.customer_id,
            cast(func.sum(fen(MarginContract.financing_debt)), BigInteger),
            cast(func.sum(fen(lending_debt)), BigInteger),
            cast(func.sum(fen(MarginContract.interest_due)), BigInteger),
            cast(func.sum(fen(MarginContract.credit_limit)), BigInteger),
            cast(func.max(MarginContract.warning_line), Float),
            cast(func.max(MarginContract.liquidation_line), Float),
            date_text(func.min(MarginContract.end_on)),
        )
        .join(Account, Account.id == MarginContract.account_id)
        .where(Account.customer_id.between(lo, hi), MarginContract.status == "active")
        .group_by(Account.customer_id),
        {"customer_id": pl.Int64, "financing": pl.Int64, "lending": pl.Int64, "interest": pl.Int64,
         "credit_limit": pl.Int64, "warning_line": pl.Float64, "liquidation_line": pl.Float64,
         "contract_end": pl.String},
    )


def cash_movements_by_customer(conn: Connection, *, lo: int, hi: int, at: datetime) -> pl.DataFrame:
    """Bank transfers (net over 30/90/365 days, counts and the largest withdrawal over 90),
    dividends and margin interest over 365 days, and the last completed transfer."""
    c30, c90, c365 = _windows(at)
    cm = CashMovement
    bank = cm.kind.in_(("bank_in", "bank_out"))
    done = cm.status == "done"
    return read_frame(
        conn,
        select(
            Account.customer_id,
            cast(sum_if(and_(bank, done, cm.occurred_at >= c30), fen(cm.amount)), BigInteger),
            cast(sum_if(and_(bank, done, cm.occurred_at >= c90), fen(cm.amount)), BigInteger),
            cast(sum_if(and_(bank, done, cm.occurred_at >= c365), fen(cm.amount)), BigInteger),
            sum_if(and_(cm.kind == "bank_in", done, cm.occurred_at >= c90)),
            sum_if(and_(cm.kind == "bank_out", done, cm.occurred_at >= c90)),
            cast(func.coalesce(func.min(case((and_(cm.kind == "bank_out", done, cm.occurred_at >= c90),
                                               fen(cm.amount)))), 0), BigInteger),
            cast(sum_if(and_(cm.kind == "dividend", cm.occurred_at >= c365), fen(cm.amount)), BigInteger),
            cast(sum_if(and_(cm.kind == "margin_interest", cm.occurred_at >= c365), fen(cm.amount)),
                 BigInteger),
            func.max(case((and_(bank, done), cm.occurred_at))),
        )
        .join(Account, Account.id == cm.account_id)
        .where(Account.customer_id.between(lo, hi), cm.occurred_at <= at)
        .group_by(Account.customer_id),
        {"customer_id": pl.Int64, "net_30": pl.Int64, "net_90": pl.Int64, "net_365": pl.Int64,
         "in_90": pl.Int64, "out_90": pl.Int64, "min_out_90": pl.Int64, "dividend_365": pl.Int64,
         "margin_interest_365": pl.Int64, "last_transfer": UTC_TS},
    )


TRADE_SCHEMA = {"customer_id": pl.Int64, "account_id": pl.Int64, "symbol": pl.String,
                "side": pl.String, "traded_at": UTC_TS, "amount": pl.Int64, "quantity": pl.Int64,
                "fees": pl.Int64, "growth": pl.Boolean,
                "cost_price": pl.Float64}


def trade_rows(conn: Connection, *, lo: int, hi: int, at: datetime) -> pl.DataFrame:
    """Each trade of the last 365 days, with its amount, quantity and fees in hundredths (whole
    fen: sums are exact on both backends), whether its symbol is on a growth board (创业板,
    科创板), and the position's cost price. Read row by row: SQLite grouping them (a sort per
    grouping) cost more than the read, and two groupings share it. The instrument view is joined
    inner (a trade's symbol is a foreign key of it): SQLite then looks each symbol up by index,
    where an outer join would materialise the whole priced view for every read."""
    _, _, c365 = _windows(at)
    t = Trade
    inst = instruments_sql()
    fees = fen(t.commission) + fen(t.stamp_duty) + fen(t.transfer_fee)
    return read_frame(
        conn,
        select(
            Account.customer_id, t.account_id, t.symbol, t.side, t.traded_at, fen(t.amount),
            fen(t.quantity), fees, inst.c.board.in_(("chinext", "star")), cast(Position.cost_price, Float),
        )
        .join(Account, Account.id == t.account_id)
        .join(inst, inst.c.symbol == t.symbol)
        .outerjoin(Position, and_(Position.account_id == t.account_id, Position.symbol == t.symbol))
        .where(Account.customer_id.between(lo, hi), t.traded_at >= c365, t.traded_at <= at),
        TRADE_SCHEMA,
    )


def trading(rows: pl.DataFrame, at: datetime) -> pl.DataFrame:
    """Trades by customer: counts and turnover over 30/90/365 days, buys and
    sells, symbols, active days (UTC), fees, turnover on the growth boards, the last trade."""
    c30, c90, _ = _windows(at)
    t, amount, in30, in90 = pl.col("traded_at"), pl.col("amount"), pl.col("in30"), pl.col("in90")
    flagged = rows.with_columns(
        in30=t >= pl.lit(c30, dtype=UTC_TS), in90=t >= pl.lit(c90, dtype=UTC_TS), day=t.dt.date())
    return flagged.group_by("customer_id").agg(
        n_30=count_if(in30), n_90=count_if(in90), n_365=pl.len().cast(pl.Int64),
        buys=count_if(pl.col("side") == "buy"), sells=count_if(pl.col("side") == "sell"),
        amt_30=amount.filter(in30).sum(), amt_90=amount.filter(in90).sum(), amt_365=amount.sum(),
        symbols=pl.col("symbol").n_unique().cast(pl.Int64),
        days_30=pl.col("day").filter(in30).n_unique().cast(pl.Int64),
        days_90=pl.col("day").filter(in90).n_unique().cast(pl.Int64),
        fees=pl.col("fees").sum(), growth_amt=amount.filter(pl.col("growth")).sum(), last_trade=t.max(),
    )


def round_trips(rows: pl.DataFrame) -> pl.DataFrame:
    """Per account and symbol: bought and sold amount and quantity, first buy and first sell, and
    the position's cost price (win rate and holding period come from these)."""
    buy, sell = pl.col("side") == "buy", pl.col("side") == "sell"

    def total(col: str, side: pl.Expr) -> pl.Expr:
        return pl.col(col).filter(side).sum() / 100.0

    return rows.group_by("customer_id", "account_id", "symbol").agg(
        buy_amt=total("amount", buy), buy_qty=total("quantity", buy),
        sell_amt=total("amount", sell), sell_qty=total("quantity", sell),
        first_buy=pl.col("traded_at").filter(buy).min(), first_sell=pl.col("traded_at").filter(sell).min(),
        cost_price=pl.col("cost_price").max(),
    ).drop("account_id", "symbol")


def trades_by_customer(conn: Connection, *, lo: int, hi: int, at: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`trading` and :func:`round_trips` of customers ``lo..hi`` from one read of their trades."""
    rows = trade_rows(conn, lo=lo, hi=hi, at=at)
    return trading(rows, at), round_trips(rows)


def orders_by_customer(conn: Connection, *, lo: int, hi: int, at: datetime) -> pl.DataFrame:
    """Orders placed in the last 90 days and how many were cancelled, by customer."""
    _, c90, _ = _windows(at)
    return read_frame(
        conn,
        select(Account.customer_id, func.count(), sum_if(Order.status == "cancelled"))
        .join(Account, Account.id == Order.account_id)
        .where(Account.customer_id.between(lo, hi), Order.placed_at >= c90, Order.placed_at <= at)
        .group_by(Account.customer_id),
        {"customer_id": pl.Int64, "orders": pl.Int64, "cancelled": pl.Int64},
    )
