"""Modelled daily bars for the demo's last trading days, where the shipped history has none.

The shipped real history (47 large caps, loaded by the monitoring demo) ends in June 2026, and
the other ~5,000 shares, the ETFs and funds have a reference price only; a demo generated today
would otherwise show every holding flat, or — measured against the reference price — the same
move for all. So each day of the last :data:`DAYS` trading days that has no bar for an instrument
gets one, seeded: a market factor for shares (with a per-share beta and its own noise by board,
cut at the price limit, a few limit-up and limit-down days), a bond, a gold and an overseas factor
for the funds of those kinds, and no move for money-market funds and repos (a money fund's NAV
stays at 1 and pays income instead). Real bars are never overwritten. The bars go in through the
market service as a broker's would, so the quotes, valuations and reports all read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from brokercare.core.calendar import (
    SHANGHAI,
    add_trading_days,
    is_trading_day,
    previous_trading_day,
)
from brokercare.engagement.service import latest_day
from brokercare.market.service import (
    daily_history,
    instrument_rows,
    is_risk_warning,
    limit_arrays,
    load_daily_bars,
)

#: Trading days modelled: the report's day, the day before and a limit-down streak's look-back.
DAYS = 6
#: Daily standard deviation of a share's own move, by board (ST shares: :data:`ST_NOISE`).
NOISE = {"main": 0.016, "chinext": 0.024, "star": 0.026, "bse": 0.03}
ST_NOISE = 0.025
LIMIT_DOWN_P, LIMIT_UP_P, STREAK_P = 0.003, 0.005, 0.35
#: Price decimals by kind (exchange ticks: shares 0.01, ETFs and bonds 0.001; fund NAVs 4).
DECIMALS = {"stock": 2, "etf": 3, "bond": 3, "convertible": 3, "fund": 4, "repo": 3}


@dataclass(frozen=True)
class Universe:
    symbols: list[str]
    kind: np.ndarray
    board: np.ndarray
    st: np.ndarray
    price: np.ndarray  # the valuation price before the window


def modelled_days(as_of: date, now: datetime | None = None) -> list[date]:
    """The last :data:`DAYS` trading days whose close is in by ``as_of`` (oldest first)."""
    last = as_of if is_trading_day(as_of) else previous_trading_day(as_of)
    last = min(last, latest_day(now or datetime.now(SHANGHAI)))
    return [add_trading_days(last, -k) for k in range(DAYS - 1, -1, -1)]


def _universe(session: Session) -> Universe:
    rows = [r for r in instrument_rows(session) if r["kind"] != "index" and r["last_price"]]
    return Universe(symbols=[r["symbol"] for r in rows], kind=np.array([r["kind"] for r in rows]),
                    board=np.array([r["board"] for r in rows]),
                    st=np.array([is_risk_warning(r["name"]) for r in rows]),
                    price=np.array([r["last_price"] for r in rows], dtype=np.float64))


def _exposures(rng: np.random.Generator, u: Universe) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per instrument: which factor it follows (0 none, 1 market, 2 bonds, 3 gold, 4 overseas),
    its beta to that factor and the standard deviation of its own noise."""
    n = len(u.symbols)
    factor, beta, noise = np.zeros(n, np.int8), np.zeros(n), np.zeros(n)
    stock = u.kind == "stock"
    factor[stock], beta[stock] = 1, rng.uniform(0.6, 1.4, stock.sum())
    noise[stock] = np.where(u.st[stock], ST_NOISE, [NOISE.get(b, 0.02) for b in u.board[stock]])
    fund = np.isin(u.kind, ("etf", "fund"))
    for boards, f, b, s in ((("index",), 1, (0.9, 1.1), 0.003), (("equity", "mixed"), 1, (0.6, 1.0), 0.006),
                            (("bond",), 2, (0.8, 1.2), 0.0005), (("gold",), 3, (0.95, 1.05), 0.001),
                            (("qdii",), 4, (0.8, 1.2), 0.003)):
        pick = fund & np.isin(u.board, boards)
        factor[pick], beta[pick], noise[pick] = f, rng.uniform(*b, pick.sum()), s
    bond = u.kind == "bond"
    factor[bond], beta[bond], noise[bond] = 2, 1.0, 0.0003
    conv = u.kind == "convertible"
    factor[conv], beta[conv], noise[conv] = 1, 0.5, 0.008
    return factor, beta, noise


def _day_returns(rng: np.random.Generator, u: Universe, exposures, limit_down_before: np.ndarray) -> np.ndarray:
    """One day's returns: factor × beta + own noise; money funds and repos flat; a few shares at
    their limit (a share limit-down yesterday more likely so again)."""
    factor, beta, noise = exposures
    factors = np.array([0.0, rng.normal(0.0003, 0.011), rng.normal(0.0001, 0.0007), rng.normal(0.0002, 0.009),
                        rng.normal(0.0003, 0.012)])
    r = factors[factor] * beta + rng.normal(0.0, 1.0, len(factor)) * noise
    stock = u.kind == "stock"
    draw = rng.random(len(factor))
    down_p = np.where(limit_down_before, STREAK_P, LIMIT_DOWN_P)
    r[stock & (draw < down_p)] = -1.0  # cut to the limit-down price below
    r[stock & (draw > 1.0 - LIMIT_UP_P)] = 1.0
    return r


def _bars_of_day(rng: np.random.Generator, u: Universe, day: date, prev: np.ndarray, r: np.ndarray) -> dict:
    """Close, open, high and low of one day from the previous close and the day's return, inside
    the day's price limits (shares and ETFs), each rounded to its kind's tick."""
    boards = [b if k == "stock" else "main" for b, k in zip(u.board, u.kind, strict=True)]
    up, down = limit_arrays(boards, u.st, [None] * len(prev), prev, day)
    limited = np.isin(u.kind, ("stock", "etf")) & ~np.isnan(up)
    close = prev * (1.0 + r)
    close[limited] = np.clip(close[limited], down[limited], up[limited])
    ticks = np.array([10.0 ** DECIMALS.get(k, 3) for k in u.kind])
    close = np.round(close * ticks) / ticks
    spread = np.abs(r) * 0.5 + 0.002
    open_ = np.round(prev * (1.0 + rng.normal(0.0, 1.0, len(prev)) * spread * 0.5) * ticks) / ticks
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 1.0, len(prev))) * spread * 0.3)
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 1.0, len(prev))) * spread * 0.3)
    if limited.any():
        high[limited] = np.minimum(high[limited], up[limited])
        low[limited] = np.maximum(low[limited], down[limited])
        open_[limited] = np.clip(open_[limited], low[limited], high[limited])
    flat = r == 0.0
    open_[flat] = high[flat] = low[flat] = close[flat]
    return {"open": open_, "high": np.round(np.maximum(high, close) * ticks) / ticks,
            "low": np.round(np.minimum(low, close) * ticks) / ticks, "close": close,
            "is_limit_down": limited & (close <= down + 1e-9)}


def model_market_days(engine: Engine, rng: np.random.Generator, as_of: date) -> int:
    """Write a modelled bar for every instrument and each of the last :data:`DAYS` trading days
    that has no bar yet (walking on from the real close where there is one); returns bars written."""
    days = modelled_days(as_of)
    with Session(engine) as session:
        u = _universe(session)
        known = daily_history(session, before=days[-1] + timedelta(days=1), days=DAYS + 5)
    known = known[known["date"].dt.date >= days[0]]
    real = {(s, d.date()): c for s, d, c in zip(known["symbol"], known["date"], known["close"], strict=True)}
    exposures = _exposures(rng, u)
    prev, limit_down = u.price.copy(), np.zeros(len(u.symbols), bool)
    volume = np.exp(rng.normal(13.0, 1.2, len(u.symbols)))
    rows = []
    for day in days:
        bar = _bars_of_day(rng, u, day, prev, _day_returns(rng, u, exposures, limit_down))
        for k, symbol in enumerate(u.symbols):
            if (symbol, day) in real:
                bar["close"][k] = real[(symbol, day)]
                continue
            rows.append({"symbol": symbol, "day": day, "open": float(bar["open"][k]), "high": float(bar["high"][k]),
                         "low": float(bar["low"][k]), "close": float(bar["close"][k]),
                         "volume": round(float(volume[k]) * (1.0 + abs(float(bar["close"][k] / prev[k] - 1)) * 20), -2),
                         "amount": None})
        prev, limit_down = bar["close"], bar["is_limit_down"]
    with engine.begin() as conn:
        load_daily_bars(conn, rows)
    return len(rows)
