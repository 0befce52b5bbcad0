"""Daily closes and the day's price facts per instrument: what a post-close report measures with.

The closes table holds one price per instrument and trading day. ``record_closes`` snapshots the
valuation price (the latest quote, else the reference price) after the close (the scheduled ``market.record_closes``); a broker with a
market-data warehouse loads its official closes with ``load_closes`` instead. ``day_facts`` turns
them into one row per instrument: the previous close, the close, the limit-down streak (by the
exchanges' price-limit rules) and the risk-warning flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl
from sqlalchemy import Connection, Float, cast, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from brokercare.core.bulkread import date_text, read_frame
from brokercare.core.calendar import add_trading_days
from brokercare.market.limits import limit_arrays
from brokercare.market.models import DailyClose, Instrument, Quote

#: Trading days looked back for a limit-down streak (a longer streak shows as this many).
STREAK_DAYS = 5


def load_closes(conn: Connection, rows: Iterable[tuple[str, date, Decimal | float]]) -> int:
    """Insert or correct closes ``(symbol, day, close)``; returns the rows written."""
    data = [{"symbol": s, "day": d, "close": Decimal(str(c))} for s, d, c in rows]
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(DailyClose.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=["day", "symbol"], set_={"close": stmt.excluded.close})
    for start in range(0, len(data), 5000):
        conn.execute(stmt, data[start:start + 5000])
    return len(data)


def record_closes(conn: Connection, day: date) -> int:
    """Store every priced instrument's close on ``day`` (idempotent): its latest quote after the
    close, else its reference price — the valuation price (valuation.py) at the end of the day."""
    price = func.coalesce(Quote.price, Instrument.last_price)
    rows = conn.execute(select(Instrument.symbol, price)
                        .outerjoin(Quote, Quote.symbol == Instrument.symbol)
                        .where(price.is_not(None), Instrument.kind != "index")).all()
    return load_closes(conn, ((s, day, p) for s, p in rows))


def _closes(conn: Connection, days: list[date]) -> pl.DataFrame:
    return read_frame(conn, select(DailyClose.symbol, date_text(DailyClose.day), cast(DailyClose.close, Float))
                      .where(DailyClose.day.in_(days)),
                      {"symbol": pl.String, "day": pl.String, "close": pl.Float64})


def _instruments(conn: Connection) -> pl.DataFrame:
    return read_frame(conn, select(Instrument.symbol, Instrument.name, Instrument.kind, Instrument.board,
                                   Instrument.exchange, Instrument.risk_rating, Instrument.is_st,
                                   date_text(Instrument.listed_on), cast(Instrument.last_price, Float)),
                      {"symbol": pl.String, "name": pl.String, "kind": pl.String, "board": pl.String,
                       "exchange": pl.String, "risk_rating": pl.String, "is_st": pl.Boolean,
                       "listed_on": pl.String, "last_price": pl.Float64})


def near_delisting(names: pl.Expr) -> pl.Expr:
    """*ST (退市风险警示) or in the delisting period (退市整理, a name marked 退)."""
    return names.str.contains(r"^\*ST|^S\*ST|退")


def day_facts(conn: Connection, day: date) -> pl.DataFrame:
    """One row per instrument: name, kind, board, exchange, risk rating, ST and near-delisting
    flags, ``prev_close`` (the previous trading day's close, null when not recorded), ``close``
    (the day's close; the reference price when the day has none recorded yet) and
    ``limit_down_days`` (consecutive trading days ending ``day`` that closed at the limit-down
    price, up to :data:`STREAK_DAYS`)."""
    days = [add_trading_days(day, -k) for k in range(STREAK_DAYS + 1)]  # day, day-1, ..., day-5
    inst = _instruments(conn)
    wide = _closes(conn, days).pivot(on="day", index="symbol", values="close")
    frame = inst.join(wide, on="symbol", how="left")
    col = {d: (frame[d.isoformat()].to_numpy().astype(np.float64) if d.isoformat() in frame.columns
               else np.full(frame.height, np.nan)) for d in days}
    listed = [date.fromisoformat(v) if v else None for v in frame["listed_on"].to_list()]
    boards = [b if k == "stock" else "main" for b, k in zip(frame["board"], frame["kind"], strict=True)]
    streak = np.zeros(frame.height, np.int16)
    alive = np.ones(frame.height, bool)
    for k in range(STREAK_DAYS):  # the limit-down price of day-k from the close of day-k-1
        today, before = col[days[k]], col[days[k + 1]]
        _, down = limit_arrays(boards, frame["is_st"].to_numpy(), listed, np.nan_to_num(before), days[k])
        hit = ~np.isnan(today) & ~np.isnan(down) & (today <= down + 1e-6)
        alive &= hit
        streak += alive
    close = np.where(np.isnan(col[day]), frame["last_price"].to_numpy().astype(np.float64), col[day])
    return frame.select(
        "symbol", "name", "kind", "board", "exchange", "risk_rating", "is_st",
        near_delisting(pl.col("name")).alias("near_delisting"),
    ).with_columns(
        pl.Series("prev_close", col[days[1]]).fill_nan(None),
        pl.Series("close", close).fill_nan(None),
        pl.Series("limit_down_days", streak),
    )
