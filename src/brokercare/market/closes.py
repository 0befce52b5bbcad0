"""The day's price facts per instrument, from the quote store's daily bars: what a post-close
report measures with.

There is one store of closes, ``daily_bars`` (:mod:`market.store`): loaded from the broker's
market data (``brokercare market load-bars``) or rolled up from the day's live minute bars after
the close (the scheduled ``market.close_day``). ``day_facts`` turns the bars of the day and the
days before into one row per instrument: the previous close, the close, the limit-down streak (by
the exchanges' price-limit rules) and the risk-warning flags. Nothing is modelled here: a day
without a bar is not given an invented move.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl
from sqlalchemy import Connection, Float, cast, select

from brokercare.core.bulkread import date_text, read_frame
from brokercare.core.calendar import SHANGHAI, add_trading_days
from brokercare.market.limits import limit_arrays
from brokercare.market.models import DailyBar, Instrument, Quote

#: Trading days looked back for a limit-down streak (a longer streak shows as this many).
STREAK_DAYS = 5


def _closes(conn: Connection, days: list[date]) -> pl.DataFrame:
    return read_frame(conn, select(DailyBar.symbol, date_text(DailyBar.day), cast(DailyBar.close, Float))
                      .where(DailyBar.day.in_(days)),
                      {"symbol": pl.String, "day": pl.String, "close": pl.Float64})


def _quotes_of_day(conn: Connection, day: date) -> pl.DataFrame:
    """The stored quotes taken on ``day`` itself, Beijing time (a live price before the day's bar
    is rolled up)."""
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    end = start + timedelta(days=1)
    return read_frame(conn, select(Quote.symbol, cast(Quote.price, Float).label("quote"))
                      .where(Quote.time >= start, Quote.time < end),
                      {"symbol": pl.String, "quote": pl.Float64})


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


def _latest(columns: list[np.ndarray]) -> np.ndarray:
    """Per row, the first value that is not NaN, scanning ``columns`` in order."""
    out = np.full(columns[0].shape, np.nan)
    for c in columns:
        out = np.where(np.isnan(out), c, out)
    return out


def day_facts(conn: Connection, day: date) -> pl.DataFrame:
    """One row per instrument: name, kind, board, exchange, risk rating, ST and near-delisting
    flags, ``prev_close`` (the latest daily bar's close before ``day`` within
    :data:`STREAK_DAYS` trading days: a suspended share keeps its last close; null when the store
    has none), ``close`` (the day's bar; before it is rolled up, a quote taken that day; else the
    previous close — no bar, no move; else the reference price) and ``limit_down_days``
    (consecutive trading days ending ``day`` that closed at the limit-down price, up to
    :data:`STREAK_DAYS`)."""
    days = [add_trading_days(day, -k) for k in range(STREAK_DAYS + 1)]  # day, day-1, ..., day-5
    inst = _instruments(conn).join(_quotes_of_day(conn, day), on="symbol", how="left")
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
    prev = _latest([col[d] for d in days[1:]])
    close = _latest([col[day], frame["quote"].to_numpy().astype(np.float64), prev,
                     frame["last_price"].to_numpy().astype(np.float64)])
    return frame.select(
        "symbol", "name", "kind", "board", "exchange", "risk_rating", "is_st",
        near_delisting(pl.col("name")).alias("near_delisting"),
    ).with_columns(
        pl.Series("prev_close", prev).fill_nan(None),
        pl.Series("close", close).fill_nan(None),
        pl.Series("limit_down_days", streak),
    )
