"""Demo history for monitoring: the shipped daily bars loaded into the market's quote store (the
demo's price history: 47 large caps and the CSI 300), customers' alert rules, 22 trading days of market values (for IPO
quotas), an IPO calendar modelled on real 2023 listings, and a trading day of real alerts.

The alert day replays minute-like bars built from the last real trading day in the shipped history
(see ``bars.py``) through the evaluator against the generated brokerage, so the alerts, margin calls
and notifications a new user sees were produced by the engine itself.
"""

from __future__ import annotations

import csv
import tempfile
from datetime import date, datetime, time
from decimal import Decimal
from importlib import resources
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from brokercare.accounts.service import accounts_of, positions_of, stock_value_by_exchange
from brokercare.core.calendar import (
    SHANGHAI,
    add_trading_days,
    is_trading_day,
    previous_trading_day,
    trading_days,
)
from brokercare.core.database import utcnow
from brokercare.customers.service import all_customer_ids
from brokercare.market.service import load_bars
from brokercare.monitoring.alerts import record_snapshot
from brokercare.monitoring.bars import minute_bars
from brokercare.monitoring.book import load_book, load_universe, market_info
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.forecast import daily_history
from brokercare.monitoring.models import AlertPreference, IpoIssue, MarketValueDaily
from brokercare.monitoring.temperature import snapshot_temperatures
from brokercare.monitoring.watchlists import settle_margin_calls
from brokercare.security.service import get_user_by_username

BOARD_BY_PREFIX = (("688", "star"), ("300", "chinext"), ("301", "chinext"))


def _board(code: str) -> str:
    for prefix, board in BOARD_BY_PREFIX:
        if code.startswith(prefix):
            return board
    return "main"


def _report(summary, line: str) -> None:
    if isinstance(summary, dict):
        summary["monitoring"] = line
    elif isinstance(summary, list):
        summary.append(line)


def recent_listings() -> list[dict]:
    text = (
        resources.files("brokercare.monitoring")
        .joinpath("data/recent_listings_2023.csv")
        .read_text("utf-8")
    )
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def ipo_calendar(session: Session, today: date, rng) -> int:
    """Upcoming issues over the next two weeks, modelled on real recent listings."""
    listings = [r for r in recent_listings() if r["ts_code"].endswith((".SH", ".SZ"))]
    added = 0
    day = add_trading_days(today, -3)
    for k in range(14):
        r = listings[int(rng.random() * len(listings))]
        code, exchange = r["ts_code"].split(".")
        board = _board(code)
        if session.scalar(select(IpoIssue.id).where(IpoIssue.symbol == r["ts_code"])):
            continue
        if k % 2 == 0:
            day = add_trading_days(day, 1)
        median = {"main": 16.0, "chinext": 28.0, "star": 36.0}[board]
        price = Decimal(str(round(median * float(np.exp(0.45 * (rng.random() - 0.5) * 2)), 2)))
        cap = {"main": 12_000, "chinext": 8_500, "star": 5_500}[board]
        # subscription codes: SH main board 732 + the last three digits, STAR 787 + the same; SZ uses
        # the stock code itself
        sub_code = ("787" if board == "star" else "732") + code[3:] if exchange == "SH" else code
        session.add(
            IpoIssue(
                code=sub_code,
                symbol=r["ts_code"],
                name=r["name"],
                exchange=exchange,
                board=board,
                subscribe_on=day,
                price=price,
                max_shares=cap,
                results_on=add_trading_days(day, 2),
                payment_on=add_trading_days(day, 2),
                listing_on=add_trading_days(day, 8),
                industry=r["industry"],
                source=f"modelled on the {r['list_date']} listing of {r['ts_code']} (tushare stock_basic); "
                "date, price and cap are modelled",
            )
        )
        added += 1
    session.flush()
    return added


def market_values(session: Session, today: date, rng) -> int:
    """22 trading days of closing market values per customer and exchange, from current holdings."""
    rows = stock_value_by_exchange(session, ("SH", "SZ"))
    days = trading_days(add_trading_days(today, -22), add_trading_days(today, -1))
    batch = []
    for cid, exchange, value in rows:
        base = float(value)
        drift = np.exp(
            np.cumsum(
                np.full(len(days), 0.0) + 0.012 * (np.array([rng.random() for _ in days]) - 0.5)
            )
        )
        for d, f in zip(days, drift, strict=True):
            batch.append(
                {
                    "customer_id": cid,
                    "day": d,
                    "exchange": exchange,
                    "value": Decimal(str(round(base * f, 2))),
                }
            )
    for k in range(0, len(batch), 5000):
        session.execute(insert(MarketValueDaily), batch[k : k + 5000])
    session.flush()
    return len(batch)


def preferences(session: Session, rng, share: float = 0.05) -> int:
    n = 0
    for cid in all_customer_ids(session):
        if rng.random() >= share:
            continue
        quiet = rng.random() < 0.4
        session.add(
            AlertPreference(
                customer_id=cid,
                move_pct=Decimal(str([0.03, 0.04, 0.05, 0.07][int(rng.random() * 4)])),
                window_min=[5, 10, 15, 30][int(rng.random() * 4)],
                volume_ratio=Decimal("3"),
                limit_alerts=rng.random() < 0.9,
                quiet_start=(time(22, 0) if quiet else None),
                quiet_end=(time(8, 0) if quiet else None),
                hourly_cap=6,
                channels=["app", "wechat"] if rng.random() < 0.3 else ["app"],
            )
        )
        n += 1
    session.flush()
    return n


def alert_day(session: Session) -> tuple[int, date | None]:
    """Evaluate the last real trading day (minute-like bars) against the brokerage's holdings."""
    hist = daily_history()
    last = hist["date"].max().date()
    universe = load_universe(session)
    if not universe:
        return 0, None
    index = {u.symbol: k for k, u in enumerate(universe)}
    codes = {u.code: u.symbol for u in universe if u.kind == "stock"}
    bars = minute_bars(sorted(set(codes) & set(hist["code"].unique())), last, last)
    if bars.empty:
        return 0, None
    prev = (
        hist[hist["date"] < hist["date"].max()].groupby("code").tail(1).set_index("code")["close"]
    )
    prev_close = np.array(
        [float(u.last_price) if u.last_price is not None else np.nan for u in universe]
    )
    for code, symbol in codes.items():
        if code in prev.index:
            prev_close[index[symbol]] = float(prev[code])
    book = load_book(session, universe=universe)
    ev = Evaluator(book, market_info(universe, last, prev_close, session=session))

    boards = np.array([u.board for u in universe], dtype=object)
    cum = np.zeros(len(universe))
    alerts = 0
    for t, group in bars.groupby("datetime", sort=True):
        prices = np.full(len(universe), np.nan)
        for code, price, vol in zip(group["code"], group["price"], group["volume"], strict=True):
            k = index[codes[code]]
            prices[k] = price
            cum[k] += vol
        moment = datetime.fromisoformat(t).replace(tzinfo=SHANGHAI)
        f = ev.evaluate(Snapshot(moment, prices, cum.copy()))
        temps = snapshot_temperatures(ev, boards, cum, moment)
        alerts += len(record_snapshot(session, book, f, ev.last_price, temps, boards).alerts)
    return alerts, last


#: The demo customer logins whose own pages show the alerts of a modelled morning (the customers
#: domain's demo hook, which runs before this one, creates them).
DEMO_LOGINS = ("demo_margin", "demo_mass")
#: How far each demo customer's largest stock falls between 10:00 and 10:10 of that morning: over
#: the default rule (5 % within 10 minutes), short of the 10 % limit.
MODELLED_FALL = 0.055


def modelled_day(now: datetime) -> date:
    """The latest trading day whose 10:30 has passed: the modelled morning is never in the future."""
    local = now.astimezone(SHANGHAI)
    day = local.date()
    if not is_trading_day(day) or local.time() < time(10, 30):
        day = previous_trading_day(day)
    return day


def _largest_stocks(session: Session) -> dict[int, str]:
    """Each demo customer's largest stock holding by value (a margin account's first: the one its
    collateral ratio moves with), by customer."""
    chosen: dict[int, str] = {}
    for username in DEMO_LOGINS:
        user = get_user_by_username(session, username)
        if user is None or user.customer_id is None:
            continue
        stocks = [p for p in positions_of(session, user.customer_id) if p.kind == "stock"]
        margin = {a.id for a in accounts_of(session, user.customer_id) if a.kind == "margin"}
        stocks = [p for p in stocks if p.account_id in margin] or stocks
        if stocks:
            chosen[user.customer_id] = max(stocks, key=lambda p: p.market_value).symbol
    return chosen


def demo_customers_morning(session: Session, now: datetime | None = None) -> tuple[int, date | None]:
    """A modelled morning for the demo customers (``DEMO_LOGINS``): each one's largest stock falls
    ``MODELLED_FALL`` between 10:00 and 10:10 of the latest trading day, every other price stays at
    its previous close, and the engine evaluates it against the whole book. The alerts on their
    pages (and every other holder's) are the engine's own; the prices are modelled, not quotes."""
    falling = set(_largest_stocks(session).values())
    universe = load_universe(session)
    if not falling or not universe:
        return 0, None
    day = modelled_day(now or utcnow())
    info = market_info(universe, day, session=session)
    ev = Evaluator(load_book(session, universe=universe), info)
    moving = np.array([u.symbol in falling for u in universe])
    boards = np.array([u.board for u in universe], dtype=object)
    volumes = np.zeros(len(universe))
    alerts = 0
    for minute in range(0, 13):
        step = min(minute, 10) / 10
        prices = np.where(moving, info.prev_close * (1 - MODELLED_FALL * step), info.prev_close)
        moment = datetime.combine(day, time(10, minute), SHANGHAI)
        f = ev.evaluate(Snapshot(moment, prices, volumes))
        temps = snapshot_temperatures(ev, boards, volumes, moment)
        alerts += len(record_snapshot(session, ev.book, f, ev.last_price, temps, boards).alerts)
    return alerts, day


#: Trading days of shipped history the demo loads: a year for the volatility model, with margin.
DEMO_HISTORY_DAYS = 400


def market_history(engine: Engine, folder: Path) -> int:
    """Load the last ``DEMO_HISTORY_DAYS`` days of the shipped daily bars with ``load-bars``, as a
    broker would load its own (the bars are the demo's data, not the platform's)."""
    hist = daily_history()
    days = np.sort(hist["date"].unique())[-DEMO_HISTORY_DAYS:]
    path = folder / "demo_daily_bars.parquet"
    hist[hist["date"] >= days[0]].assign(date=lambda d: d["date"].dt.date).to_parquet(path, index=False)
    return load_bars(engine, path, "daily").rows


def generate(engine: Engine, rng, summary) -> None:
    today = utcnow().astimezone(SHANGHAI).date()
    with tempfile.TemporaryDirectory() as folder:
        bars = market_history(engine, Path(folder))
    with Session(engine, expire_on_commit=False) as session:
        prefs = preferences(session, rng)
        values = market_values(session, today, rng)
        issues = ipo_calendar(session, today, rng)
        session.commit()
        alerts, day = alert_day(session)
        session.commit()
        mine, morning = demo_customers_morning(session)
        settled = settle_margin_calls(session, today)
        session.commit()
    _report(
        summary,
        f"monitoring: {bars:,} daily bars of the shipped history in the quote store, {prefs:,} customers with their own alert rules, {values:,} daily market values, "
        f"{issues} IPO issues on the calendar, {alerts:,} alerts from {day} replayed, {mine:,} alerts of a modelled "
        f"morning ({morning}) for the demo customers' holdings, {sum(settled.values()):,} margin calls settled",
    )
