"""Tomorrow's IPO notes for a range of customers, in bulk: the new shares each customer can
subscribe to on the next trading day with their quota, and the winning lots to be paid for then.

The nightly report reads a million customers this way: the quota is computed for every customer
and issue at once from the grouped 20-day market values (the rules of :mod:`monitoring.ipo`); the
exact ban rule is applied only to the few customers with enough abandoned wins to be banned.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from sqlalchemy import Connection, Float, func, or_, select
from sqlalchemy.orm import Session

from brokercare.core.bulkread import driver_rows, read_frame
from brokercare.core.calendar import next_trading_day, trading_days
from brokercare.monitoring.ipo import ban_status, quota_window, rules
from brokercare.monitoring.models import IpoApplication, IpoIssue, MarketValueDaily

NOTE_SCHEMA = {"customer_id": pl.Int64, "kind": pl.String, "code": pl.String, "name": pl.String,
               "shares": pl.Int64, "price": pl.Float64, "amount": pl.Float64, "won": pl.Boolean}


def _subscriptions(conn: Connection, day: date, lo: int, hi: int) -> pl.DataFrame:
    issues = conn.execute(select(IpoIssue.code, IpoIssue.name, IpoIssue.exchange, IpoIssue.board,
                                 IpoIssue.price, IpoIssue.max_shares).where(IpoIssue.subscribe_on == day)).all()
    if not issues:
        return pl.DataFrame(schema=NOTE_SCHEMA)
    start, end = quota_window(day)
    n_days = len(trading_days(start, end))
    values = read_frame(conn, select(MarketValueDaily.customer_id, MarketValueDaily.exchange,
                                     func.sum(MarketValueDaily.value).cast(Float))
                        .where(MarketValueDaily.customer_id.between(lo, hi), MarketValueDaily.day >= start,
                               MarketValueDaily.day <= end)
                        .group_by(MarketValueDaily.customer_id, MarketValueDaily.exchange),
                        {"customer_id": pl.Int64, "exchange": pl.String, "total": pl.Float64})
    r = rules()
    frames = []
    for code, name, exchange, board, price, max_shares in issues:
        rule = next((q for q in r["quota"] if q["exchange"] == exchange and q["board"] == board), None)
        if rule is None:
            continue
        avg = values.filter(pl.col("exchange") == exchange)
        quota = np.floor(avg["total"].to_numpy() / n_days / rule["per_value"]) * rule["shares"]
        quota = np.where(avg["total"].to_numpy() / n_days < r["minimum_average"], 0, np.minimum(quota, max_shares))
        frames.append(pl.DataFrame({
            "customer_id": avg["customer_id"], "kind": "subscribe", "code": code, "name": name,
            "shares": quota.astype(np.int64), "price": float(price), "amount": quota * float(price),
            "won": False}, schema=NOTE_SCHEMA))
    notes = pl.concat(frames).filter(pl.col("shares") > 0)
    banned = _banned(conn, day, notes["customer_id"].unique().to_list())
    return notes.filter(~pl.col("customer_id").is_in(banned))


def _banned(conn: Connection, day: date, customer_ids: list[int]) -> list[int]:
    """Customers barred from subscribing on ``day``: only those with enough abandoned wins are
    checked one by one (a handful in a million)."""
    if not customer_ids:
        return []
    count = rules()["unpaid"]["count"]
    candidates = [row[0] for row in driver_rows(conn, select(IpoApplication.customer_id)
                  .where(IpoApplication.status == "abandoned", IpoApplication.customer_id.in_(customer_ids))
                  .group_by(IpoApplication.customer_id).having(func.count() >= count))]
    with Session(bind=conn) as session:
        return [cid for cid in candidates if ban_status(session, cid, day).banned_until]


def _payments(conn: Connection, day: date, lo: int, hi: int) -> pl.DataFrame:
    """Applications whose winning lots are announced ``day`` (to be paid by 16:00 that day)."""
    app, issue = IpoApplication, IpoIssue
    return read_frame(conn, select(
        app.customer_id, func.coalesce(issue.code, ""), issue.name,
        func.coalesce(func.nullif(app.won_shares, 0), app.shares), issue.price.cast(Float),
        (func.coalesce(func.nullif(app.won_shares, 0), app.shares) * issue.price).cast(Float),
        app.status == "won",
    ).join(issue, issue.id == app.issue_id).where(
        app.customer_id.between(lo, hi), issue.results_on == day,
        or_(app.status == "applied", app.status == "won"),
    ), {k: v for k, v in NOTE_SCHEMA.items() if k != "kind"}).select(
        "customer_id", pl.lit("payment").alias("kind"), "code", "name", "shares", "price", "amount", "won")


def next_day_notes(conn: Connection, day: date, *, lo: int, hi: int) -> pl.DataFrame:
    """IPO notes of customers ``lo..hi`` for the trading day after ``day``: ``kind`` is
    ``subscribe`` (``shares`` = what the quota allows) or ``payment`` (``shares`` won, or applied
    for while the result is not out yet, with the ``amount`` to have in cash by 16:00)."""
    nxt = next_trading_day(day)
    return pl.concat([_subscriptions(conn, nxt, lo, hi), _payments(conn, nxt, lo, hi)])
