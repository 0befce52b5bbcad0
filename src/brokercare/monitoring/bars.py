"""Minute-like bars built from real daily bars, for replays and tests.

No minute history ships with BrokerCare, so a day's 240 one-minute bars are synthesised from its
real open, high, low, close and volume: a Brownian bridge from the open to the close (seeded per
code and day, so reproducible), its upward excursions stretched to touch the real high and its
downward ones to touch the real low; volume follows the usual U shape of the A-share session.
The path is plausible, not the one that traded; every daily figure it is built from is real.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from brokercare.core.calendar import SHANGHAI
from brokercare.monitoring.forecast import daily_history


def session_minutes(day: date) -> list[datetime]:
    """The 240 bar-end times of a trading day: 09:31..11:30 and 13:01..15:00 (Beijing)."""
    out = []
    for start, n in ((time(9, 30), 120), (time(13, 0), 120)):
        t0 = datetime.combine(day, start, tzinfo=SHANGHAI)
        out.extend(t0 + timedelta(minutes=k + 1) for k in range(n))
    return out


def minute_path(o: float, h: float, lo: float, c: float, seed: int, n: int = 240) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 1, n)
    walk = np.concatenate([[0.0], np.cumsum(steps)])
    bridge = walk - np.linspace(0, 1, n + 1) * walk[-1]
    base = np.linspace(np.log(o), np.log(c), n + 1)
    up, down = np.maximum(bridge, 0), np.minimum(bridge, 0)
    top = np.log(h) - np.maximum(base, np.log(max(o, c)))
    bot = np.log(lo) - np.minimum(base, np.log(min(o, c)))
    # scale each side so its extreme lands exactly on the real high / low
    ku = np.max(np.log(h) - base) / up.max() if up.max() > 0 else 0.0
    kd = np.min(np.log(lo) - base) / down.min() if down.min() < 0 else 0.0
    path = base + ku * up + kd * down
    path = np.clip(path, np.log(lo), np.log(h))
    del top, bot
    prices = np.exp(path[1:])
    prices[-1] = c
    if h > max(o, c) and not np.isclose(prices.max(), h):
        prices[int(np.argmax(prices[:-1]))] = h
    if lo < min(o, c) and not np.isclose(prices.min(), lo):
        prices[int(np.argmin(prices[:-1]))] = lo
    return np.round(prices, 2)


def u_shape(n: int = 240) -> np.ndarray:
    x = np.linspace(-1, 1, n)
    w = 1 + 2.5 * x**2
    return w / w.sum()


def minute_bars(codes: list[str], start: date, end: date) -> pd.DataFrame:
    """Columns ``datetime,code,price,volume`` for the given 6-digit codes and days (inclusive)."""
    hist = daily_history()
    sel = hist[
        hist["code"].isin(codes)
        & (hist["date"] >= pd.Timestamp(start))
        & (hist["date"] <= pd.Timestamp(end))
    ]
    frames = []
    weights = u_shape()
    for row in sel.itertuples(index=False):
        day = row.date.date()
        seed = zlib.crc32(f"{row.code}{day}".encode())
        prices = minute_path(
            float(row.open), float(row.high), float(row.low), float(row.close), seed
        )
        vols = np.round(float(row.volume) * weights, -2)
        frames.append(
            pd.DataFrame(
                {
                    "datetime": [t.strftime("%Y-%m-%d %H:%M:%S") for t in session_minutes(day)],
                    "code": row.code,
                    "price": prices,
                    "volume": vols,
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["datetime", "code", "price", "volume"])
    return pd.concat(frames).sort_values(["datetime", "code"], kind="stable").reset_index(drop=True)
