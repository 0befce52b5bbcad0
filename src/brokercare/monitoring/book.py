"""The evaluator's inputs: the universe of monitored instruments, the columnar book of a shard's
holdings and margin contracts with each customer's alert rules, and the day's reference data.

The book comes from the accounts domain in a few bulk column reads (:func:`book_columns`; the hot
path cannot afford one service call per customer); instruments, limit prices and quotes come from
the market domain's service.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from brokercare.accounts.service import BookColumns, book_columns
from brokercare.core.bus_redis import partition_for
from brokercare.market.service import (
    daily_history,
    instruments_of_kinds,
    limit_arrays,
    previous_closes,
)
from brokercare.monitoring.engine import Book, MarketInfo
from brokercare.monitoring.forecast import daily_history as shipped_history
from brokercare.monitoring.forecast import (
    model_from_history,
    risk_model_for,
    session_variance_curve,
)
from brokercare.monitoring.preferences import DEFAULTS, preferences_of

UNIVERSE_KINDS = ("stock", "etf")


def load_universe(session: Session) -> list:
    """The monitored instruments (stocks and ETFs), by symbol: the book's columns."""
    return instruments_of_kinds(session, UNIVERSE_KINDS)


def _shard(columns: BookColumns, shard: int, shards: int) -> np.ndarray:
    """The account rows of ``shard``: split by customer, so all of a customer's accounts meet in
    one worker (one digest, one hourly cap)."""
    if shards <= 1:
        return np.arange(len(columns.account_ids))
    customers = columns.customer_ids.tolist()
    return np.flatnonzero([partition_for(c, shards) == shard for c in customers])


def _renumber(rows: np.ndarray, owners: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """New row of each owner after keeping only ``rows`` of ``size``, and which owners are kept."""
    new = np.full(size, -1, np.int64)
    new[rows] = np.arange(len(rows))
    moved = new[owners]
    return moved, moved >= 0


def _rule_arrays(session: Session, customer_ids: np.ndarray, override: dict | None) -> dict:
    """Per-account alert parameters from each customer's rules, defaults filled in."""
    prefs = preferences_of(session, customer_ids.tolist())
    n = len(customer_ids)
    move_pct = np.full(n, DEFAULTS["move_pct"])
    window = np.full(n, DEFAULTS["window_min"], np.int16)
    vol_ratio = np.full(n, DEFAULTS["volume_ratio"])
    limit_on = np.ones(n, bool)
    for k, cid in enumerate(customer_ids.tolist()):
        p = prefs.get(cid)
        if p is not None:
            move_pct[k], window[k] = float(p.move_pct), p.window_min
            vol_ratio[k], limit_on[k] = float(p.volume_ratio), p.limit_alerts
    if override:
        if "move_pct" in override:
            move_pct[:] = override["move_pct"]
        if "window_min" in override:
            window[:] = override["window_min"]
    return {
        "move_pct": move_pct,
        "window_min": window,
        "volume_ratio": vol_ratio,
        "limit_alerts": limit_on,
    }


def _margin_arrays(columns: BookColumns, kept: np.ndarray, col: pd.Index) -> dict:
    """The margin contracts of the kept accounts, with the shares they owe.

    A contract owing shares the book prices carries its lending debt through them (re-priced on
    every snapshot); one without keeps the value last marked as a fixed debt.
    """
    rows, ok = _renumber(kept, columns.contract_rows, len(columns.account_ids))
    contracts = np.flatnonzero(ok)
    short_m, short_ok = _renumber(contracts, columns.short_contracts, len(columns.contract_ids))
    short_col = col.get_indexer(columns.short_symbols)
    short_ok &= short_col >= 0
    priced = np.zeros(len(contracts), bool)
    priced[short_m[short_ok]] = True
    return {
        "margin_rows": rows[ok],
        "margin_debt": np.where(
            priced, columns.debt_before_shorts[contracts], columns.debt_as_marked[contracts]
        ),
        "short_rows": short_m[short_ok],
        "short_symbol": short_col[short_ok].astype(np.int32),
        "short_qty": columns.short_quantities[short_ok],
        "warning_line": columns.warning_line[contracts],
        "liquidation_line": columns.liquidation_line[contracts],
        "withdrawal_line": columns.withdrawal_line[contracts],
        "topup_days": columns.topup_days[contracts],
        "contract_ids": columns.contract_ids[contracts],
    }


def load_book(
    session: Session,
    *,
    shard: int = 0,
    shards: int = 1,
    override: dict | None = None,
    universe: list | None = None,
) -> Book:
    """The columnar book of every active account in ``shard`` (customers split by id)."""
    universe = universe if universe is not None else load_universe(session)
    symbols = np.array([i.symbol for i in universe], dtype=object)
    col = pd.Index(symbols)
    columns = book_columns(session)
    kept = _shard(columns, shard, shards)
    pos_rows, pos_ok = _renumber(kept, columns.position_rows, len(columns.account_ids))
    pos_col = col.get_indexer(columns.position_symbols)
    pos_ok &= pos_col >= 0
    customer_ids = columns.customer_ids[kept]
    margin = _margin_arrays(columns, kept, col)
    return Book(
        symbols=symbols,
        names=np.array([i.name for i in universe], dtype=object),
        account_ids=columns.account_ids[kept],
        customer_ids=customer_ids,
        pos_account=pos_rows[pos_ok].astype(np.int32),
        pos_symbol=pos_col[pos_ok].astype(np.int32),
        qty=columns.quantities[pos_ok],
        cost=columns.cost_prices[pos_ok],
        **_rule_arrays(session, customer_ids, override),
        margin_cash=columns.cash[kept][margin["margin_rows"]],
        **margin,
    )


@lru_cache(maxsize=32)
def _avg_volume(day: date) -> dict[str, float]:
    hist = shipped_history()
    recent = hist[hist["date"] < np.datetime64(day)]
    return recent.groupby("code").tail(20).groupby("code")["volume"].mean().to_dict()


def average_volume_20d(symbols: np.ndarray, day: date) -> np.ndarray:
    """20-day average daily volume before ``day`` from the shipped history (NaN when unknown).

    A deployment replaces this with its market-data warehouse; the shipped history covers the
    47 large caps in ``data/SOURCE.md``.
    """
    avg = _avg_volume(day)
    codes = [str(s).split(".")[0] for s in symbols]
    return np.array([avg.get(c, np.nan) for c in codes], dtype=np.float64)


def market_info(
    universe: list, day: date, prev_close: np.ndarray | None = None, *, session: Session | None = None
) -> MarketInfo:
    """Reference data of the day: previous closes, limit prices, 20-day volumes, the intraday risk
    model (open-to-close volatilities) and the time-of-day variance curve.

    With ``session`` (the live paths) everything comes from the broker's stored quotes and daily
    bars (``market.service``); without, from the reference prices and the shipped research history
    (replays of the shipped data, the calibration)."""
    symbols = np.array([i.symbol for i in universe], dtype=object)
    boards = [i.board if i.kind == "stock" else "main" for i in universe]
    if prev_close is None:
        prev_close = (previous_closes(session, list(symbols), day) if session is not None else np.array(
            [float(i.last_price) if i.last_price is not None else np.nan for i in universe]))
    up, down = limit_arrays(
        boards, [i.is_st for i in universe], [i.listed_on for i in universe], prev_close, day
    )
    if session is not None:
        history = daily_history(session, before=day, days=260)
        avg = history.groupby("symbol").tail(20).groupby("symbol")["volume"].mean()
        volume = avg.reindex(symbols).to_numpy(np.float64)
        model = model_from_history(list(symbols), boards, history)
    else:
        volume = average_volume_20d(symbols, day)
        model = risk_model_for([i.code for i in universe], boards, intraday=True)
    return MarketInfo(day, prev_close, up, down, volume, model, variance_curve=session_variance_curve())
