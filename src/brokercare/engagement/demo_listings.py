"""Demo data for the IPO first-day estimates: comparable listings of the last months, loaded the
way a broker loads them — the issues through ``brokercare import ipo_issues`` (monitoring's import
spec, all rules checked) and each one's listing-day bar through the market's bar loader.

The companies are real (the A-share listings of 2023-06..08 monitoring ships for its demo IPO
calendar, ``monitoring/data/recent_listings_2023.csv``: code, name, board, industry), the dates,
issue prices and first-day moves are modelled and say so in each issue's ``source``: listing days
spread over the last ``SPAN_DAYS``, issue prices around each board's typical level, and first-day
returns drawn per board around the medians of registration-regime listings (main board ≈ +80 %,
ChiNext ≈ +120 %, STAR ≈ +70 %; about one in ten breaks its issue price), seeded by the demo seed.
"""

from __future__ import annotations

import csv
import tempfile
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from brokercare.core.bulkimport import run_import
from brokercare.core.calendar import add_trading_days, trading_days
from brokercare.market.service import load_daily_bars
from brokercare.monitoring.service import ipo_issues, ipo_issues_spec

SPAN_DAYS = 150
#: Typical issue price (元), first-day median return, and per-account cap (shares) by board.
BOARDS = {"main": (16.0, 0.80, 12_000), "chinext": (28.0, 1.20, 8_500), "star": (36.0, 0.70, 5_500)}
BREAK_SHARE = 0.1
COLUMNS = ("code", "symbol", "name", "exchange", "board", "subscribe_on", "price", "max_shares", "listing_on",
           "industry", "source")


def _board(code: str) -> str:
    return "star" if code.startswith("688") else "chinext" if code.startswith(("300", "301")) else "main"


def listings() -> list[dict]:
    """The shipped real listings on the Shanghai and Shenzhen exchanges."""
    text = resources.files("brokercare.monitoring").joinpath("data/recent_listings_2023.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return [r for r in rows if r["ts_code"].endswith((".SH", ".SZ"))]


def first_day_return(board: str, rng) -> float:
    """A modelled first-day return: a break below the issue price, else log-normal about the median."""
    if rng.random() < BREAK_SHARE:
        return -float(rng.uniform(0.02, 0.18))
    return float((1 + BOARDS[board][1]) * np.exp(rng.normal(0.0, 0.45)) - 1)


def comparables(today: date, taken: set[str], rng) -> tuple[list[dict], list[dict]]:
    """(issue rows for the import, listing-day bars) for every shipped listing not on the calendar."""
    days = trading_days(date.fromordinal(today.toordinal() - SPAN_DAYS), add_trading_days(today, -4))
    issues, bars = [], []
    for r in listings():
        if r["ts_code"] in taken:
            continue
        code, exchange = r["ts_code"].split(".")
        board = _board(code)
        typical, _median, cap = BOARDS[board]
        listing_on = days[int(rng.integers(0, len(days)))]
        price = round(typical * float(np.exp(rng.normal(0.0, 0.3))), 2)
        close = round(price * (1 + first_day_return(board, rng)), 2)
        sub = ("787" if board == "star" else "732") + code[3:] if exchange == "SH" else code
        issues.append({"code": sub, "symbol": r["ts_code"], "name": r["name"], "exchange": exchange, "board": board,
                       "subscribe_on": add_trading_days(listing_on, -8).isoformat(), "price": f"{price:.2f}",
                       "max_shares": str(cap), "listing_on": listing_on.isoformat(), "industry": r["industry"],
                       "source": f"demo: modelled on {r['ts_code']} (tushare stock_basic); dates, price, first day modelled"})
        high, low = max(price, close) * 1.08, min(price, close) * 0.97
        bars.append({"symbol": r["ts_code"], "day": listing_on, "open": round(price * 1.3 if close > price else price, 2),
                     "high": round(high, 2), "low": round(low, 2), "close": close, "volume": 4.0e7, "amount": None})
    return issues, bars


def load(engine: Engine, today: date, rng) -> int:
    """Load the comparables (issues, then their listing-day bars); how many issues were loaded."""
    with Session(engine) as session:
        taken = {i["symbol"] for i in ipo_issues(session)}
    issues, bars = comparables(today, taken, rng)
    if not issues:
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "comparable_listings.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(issues)
        report = run_import(engine, ipo_issues_spec(), path)
    with engine.begin() as conn:
        load_daily_bars(conn, bars)
    return report.inserted
