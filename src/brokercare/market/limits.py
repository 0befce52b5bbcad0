"""Daily price limits (涨跌停) from dated rules, for one instrument or a whole board at once.

The rules live in ``price_limit_rules.yaml`` with their effective dates and sources, so a rule
change (e.g. main-board ST stocks going from ±5 % to ±10 % in 2025) is a data edit, and a replay of
an old day uses the rule of that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from brokercare.core.calendar import trading_days

BOARDS = ("main", "chinext", "star", "bse")


@dataclass(frozen=True)
class LimitRule:
    board: str
    st: bool
    pct: float | None
    effective_from: date
    source: str


@dataclass(frozen=True)
class ListingRule:
    board: str
    days: int
    effective_from: date
    source: str


@lru_cache
def _rules() -> tuple[tuple[LimitRule, ...], tuple[ListingRule, ...]]:
    text = (
        resources.files("brokercare.market").joinpath("price_limit_rules.yaml").read_text("utf-8")
    )
    data = yaml.safe_load(text)
    limits = tuple(
        sorted(
            (
                LimitRule(r["board"], bool(r["st"]), r["pct"], r["effective_from"], r["source"])
                for r in data["rules"]
            ),
            key=lambda r: r.effective_from,
        )
    )
    listing = tuple(
        ListingRule(r["board"], int(r["days"]), r["effective_from"], r["source"])
        for r in data["no_limit_after_listing"]
    )
    return limits, listing


def rule_for(board: str, is_st: bool, day: date) -> LimitRule:
    """The limit rule in force for ``board`` / ST status on ``day``."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; expected one of {', '.join(BOARDS)}")
    found = None
    for rule in _rules()[0]:
        if rule.board == board and rule.st == is_st and rule.effective_from <= day:
            found = rule
    if found is None:
        raise ValueError(f"no price-limit rule for board {board} (ST={is_st}) on {day}")
    return found


def limit_pct(board: str, is_st: bool, day: date, listed_on: date | None = None) -> float | None:
    """The limit as a fraction of the previous close, or None when the stock trades without one."""
    if listed_on is not None and listed_on <= day:
        for rule in _rules()[1]:
            if (
                rule.board == board
                and listed_on >= rule.effective_from
                and len(trading_days(listed_on, day)) <= rule.days
            ):
                return None
    return rule_for(board, is_st, day).pct


def limit_prices(prev_close: float, pct: float | None) -> tuple[float, float] | None:
    """Limit-up and limit-down prices, rounded to the fen as the exchanges do (half up)."""
    if pct is None:
        return None
    up = np.floor(prev_close * (1 + pct) * 100 + 0.5 + 1e-9) / 100
    down = np.floor(prev_close * (1 - pct) * 100 + 0.5 + 1e-9) / 100
    return float(up), float(down)


def limit_arrays(
    boards: list[str] | np.ndarray,
    is_st: list[bool] | np.ndarray,
    listed_on: list[date | None],
    prev_close: np.ndarray,
    day: date,
) -> tuple[np.ndarray, np.ndarray]:
    """Limit-up and limit-down prices for a whole universe (NaN where there is no limit)."""
    n = len(prev_close)
    up = np.full(n, np.nan)
    down = np.full(n, np.nan)
    cache: dict[tuple[str, bool, date | None], float | None] = {}
    pct = np.full(n, np.nan)
    for i in range(n):
        key = (boards[i], bool(is_st[i]), listed_on[i] if _recent(listed_on[i], day) else None)
        if key not in cache:
            cache[key] = limit_pct(key[0], key[1], day, key[2])
        value = cache[key]
        if value is not None:
            pct[i] = value
    ok = ~np.isnan(pct) & (prev_close > 0)
    up[ok] = np.floor(prev_close[ok] * (1 + pct[ok]) * 100 + 0.5 + 1e-9) / 100
    down[ok] = np.floor(prev_close[ok] * (1 - pct[ok]) * 100 + 0.5 + 1e-9) / 100
    return up, down


def _recent(listed_on: date | None, day: date) -> bool:
    return listed_on is not None and 0 <= (day - listed_on).days <= 20
