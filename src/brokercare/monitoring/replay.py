"""Replay minute bars or snapshots through the evaluator against the loaded brokerage (dry run).

Trigger semantics, so a run can be checked independently (see docs/monitoring.md):
for each code and each row time ``t`` (minute ``m``), the window holds the code's prices in the
minutes ``(m - Y, m]``; ``rise = price / min - 1`` and ``fall = price / max - 1``. A ``move_up``
(``move_down``) trigger fires when ``rise >= X`` (``-fall >= X``) and the same code has not fired
the same direction in the ``Y`` minutes before ``t``. ``limit_up``/``limit_down`` fire once a day
when the price reaches the limit computed from the previous day's last price in the file (no
previous day in the file: no limit check). Each trigger lists the customers whose holdings alerted
at that moment under their own de-duplication (or everyone's, with the replay's X and Y).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace

import numpy as np
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.market.service import QuoteRow, group_snapshots
from brokercare.monitoring.book import load_book, load_universe, market_info
from brokercare.monitoring.engine import (
    RULE_NAMES,
    RULE_VOLUME,
    Book,
    Evaluator,
    Findings,
    Snapshot,
)
from brokercare.monitoring.preferences import DEFAULTS


def board_of(symbol: str) -> str:
    code, ex = symbol.split(".")
    if ex == "BJ":
        return "bse"
    if code.startswith("688"):
        return "star"
    if code.startswith(("300", "301")):
        return "chinext"
    return "main"


@dataclass
class ReplayResult:
    triggers: list[dict] = field(default_factory=list)
    snapshots: int = 0
    days: int = 0
    customers_alerted: int = 0


def _market_book(universe, move_pct: float, window: int) -> Book:
    n = len(universe)
    return Book(
        symbols=np.array([u.symbol for u in universe], dtype=object),
        names=np.array([u.name for u in universe], dtype=object),
        account_ids=np.array([-1], np.int64),
        customer_ids=np.array([-1], np.int64),
        pos_account=np.zeros(n, np.int32),
        pos_symbol=np.arange(n, dtype=np.int32),
        qty=np.ones(n),
        cost=np.zeros(n),
        move_pct=np.array([move_pct]),
        window_min=np.array([window], np.int16),
        volume_ratio=np.array([np.inf]),
        limit_alerts=np.array([True]),
    )


def _universe(session: Session, rows: list[QuoteRow]) -> list:
    """The monitored instruments plus any code of the file the master does not know (as a stock
    of the board its code says), by symbol."""
    universe = load_universe(session)
    known = {u.symbol for u in universe}
    for sym in sorted({r.symbol for r in rows} - known):
        universe.append(
            SimpleNamespace(
                symbol=sym,
                code=sym.split(".")[0],
                name=sym.split(".")[0],
                kind="stock",
                board=board_of(sym),
                is_st=False,
                listed_on=None,
                last_price=None,
            )
        )
    universe.sort(key=lambda u: u.symbol)
    return universe


def _holders(book: Book, findings: Findings) -> dict[tuple[int, int], list[int]]:
    """Customers alerted per (symbol column, rule) on one snapshot."""
    who: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pos, rule in zip(findings.positions.tolist(), findings.rules.tolist(), strict=True):
        acc = book.pos_account[pos]
        who[(int(book.pos_symbol[pos]), rule)].append(int(book.customer_ids[acc]))
    return who


def _triggers(
    mbook: Book, market: Findings, who: dict, prices: np.ndarray, names: dict[str, str]
) -> list[dict]:
    """The market-level triggers of one snapshot, each with the customers it alerted."""
    out = []
    for k in range(len(market.positions)):
        rule = int(market.rules[k])
        if rule == RULE_VOLUME:
            continue
        s = int(mbook.pos_symbol[market.positions[k]])
        sym = str(mbook.symbols[s])
        out.append(
            {
                "code": sym.split(".")[0],
                "symbol": sym,
                "name": names[sym],
                "time": market.time.astimezone(SHANGHAI).isoformat(),
                "rule": RULE_NAMES[rule],
                "change_pct": round(float(market.change[k]) * 100, 2),
                "window_min": int(market.window[k]),
                "price": float(prices[s]) if np.isfinite(prices[s]) else None,
                "reference": round(float(market.reference[k]), 4),
                "customers": sorted(set(who.get((s, rule), []))),
            }
        )
    return out


def replay(
    session: Session,
    rows: list[QuoteRow],
    *,
    move_pct: float | None = None,
    window_min: int | None = None,
    progress=None,
) -> ReplayResult:
    universe = _universe(session, rows)
    index = {u.symbol: k for k, u in enumerate(universe)}
    override = {}
    if move_pct is not None:
        override["move_pct"] = move_pct
    if window_min is not None:
        override["window_min"] = window_min
    book = load_book(session, override=override or None, universe=universe)
    mbook = _market_book(
        universe,
        move_pct if move_pct is not None else DEFAULTS["move_pct"],
        window_min if window_min is not None else DEFAULTS["window_min"],
    )
    names = {u.symbol: u.name for u in universe}

    by_day: dict[date, list[QuoteRow]] = defaultdict(list)
    for r in rows:
        by_day[r.time.astimezone(SHANGHAI).date()].append(r)
    result = ReplayResult(days=len(by_day))
    n = len(universe)
    last_close = np.full(n, np.nan)
    alerted: set[int] = set()
    for day in sorted(by_day):
        info = market_info(universe, day, prev_close=last_close.copy())
        market_ev = Evaluator(mbook, info, forecast_threshold=2.0)
        holder_ev = Evaluator(book, info, forecast_threshold=2.0)
        cum = np.zeros(n)
        for t, group in group_snapshots(by_day[day]):
            prices = np.full(n, np.nan)
            for r in group:
                k = index[r.symbol]
                prices[k] = r.price
                cum[k] += r.volume
            snap = Snapshot(t, prices, cum.copy())
            market = market_ev.evaluate(snap)
            who = _holders(book, holder_ev.evaluate(snap))
            result.snapshots += 1
            for trigger in _triggers(mbook, market, who, prices, names):
                alerted.update(trigger["customers"])
                result.triggers.append(trigger)
            ok = ~np.isnan(prices)
            last_close[ok] = prices[ok]
            if progress is not None:
                progress(1)
    result.customers_alerted = len(alerted)
    return result
