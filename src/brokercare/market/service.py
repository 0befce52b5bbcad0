"""The market domain's public face: instrument look-ups (one, a batch, a universe), reference
prices, daily price limits, the quote replay reader, the shipped reference data and its loader.

Other domains call these, never the ``instruments`` table or the modules behind this one. Set-based
SQL that must join holdings to prices inside the database (millions of positions) joins
:func:`instruments_sql`, a read-only view of the master.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Subquery,
    case,
    func,
    inspect,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from brokercare.core.after_commit import publish_after_commit
from brokercare.core.bulkimport import ImportReport
from brokercare.core.bus import Event
from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import NotFound
from brokercare.market import store
from brokercare.market.barfiles import read_bars
from brokercare.market.closes import STREAK_DAYS, day_facts, near_delisting
from brokercare.market.events import SNAPSHOT_EVENT, snapshot_payload
from brokercare.market.limits import BOARDS, limit_arrays, limit_pct, limit_prices, rule_for
from brokercare.market.models import DailyBar, Instrument, MinuteBar, Quote
from brokercare.market.quotes import QuoteRow, group_snapshots, parse_time, read_rows, to_symbol
from brokercare.market.reference import (
    board_of,
    is_risk_warning,
    lot_size_of,
    reverse_repo_tenor,
    shipped_index_closes,
    shipped_instruments,
)
from brokercare.market.store import Tick
from brokercare.market.valuation import (
    Valuation,
    expected_since,
    is_stale,
    priced_instruments,
    valuations,
)

__all__ = [
    # look-ups and the loader (below)
    "REFERENCE_SOURCES", "find_instruments", "get_instrument", "instrument_count", "instrument_count_by_kind",
    "instrument_names",
    "instruments_by_symbol", "instruments_of_kinds", "instruments_sql", "last_prices", "load_instruments",
    "normalise_symbol",
    # the one valuation price (valuation.py) and the quote store
    "Tick", "Valuation", "expected_since", "daily_history", "ingest_quotes", "is_stale", "load_bars", "load_daily_bars", "previous_closes", "quote_of", "valuations",
    # daily price limits (limits.py)
    "BOARDS", "limit_arrays", "limit_pct", "limit_prices", "rule_for",
    # the day's price facts from the daily bars (closes.py)
    "STREAK_DAYS", "day_facts", "near_delisting",
    # the quote replay reader (quotes.py)
    "QuoteRow", "group_snapshots", "parse_time", "read_rows", "to_symbol",
    # exchange conventions and the shipped reference data (reference.py)
    "board_of", "is_risk_warning", "lot_size_of", "reverse_repo_tenor", "shipped_index_closes",
    "shipped_instruments",
]

#: Price sources written by the reference loader; any other source (a live feed) is kept on reload.
REFERENCE_SOURCES = ("history", "nav", "index", "par", "modelled")


def normalise_symbol(text: str) -> str:
    """``600519`` → ``600519.SH``, ``sz300750`` → ``300750.SZ``; full symbols are upper-cased."""
    s = text.strip().upper()
    if "." in s:
        return s
    if s[:2] in ("SH", "SZ", "BJ") and s[2:].isdigit():
        return f"{s[2:]}.{s[:2]}"
    if len(s) == 6 and s.isdigit():
        try:
            return f"{s}.{board_of(s)[0]}"
        except ValueError:
            return f"{s}.OF"
    return s


def get_instrument(session: Session, symbol: str) -> Instrument:
    """The instrument for a symbol (``600519.SH``, ``000001.OF``) or a bare code (``510300``).

    A bare code shared by a stock and a fund (``000001``) means the listed security.
    """
    s = symbol.strip().upper()
    inst = session.get(Instrument, normalise_symbol(s)) if s else None
    if inst is None and s.isdigit():
        rank = {"stock": 0, "etf": 1, "repo": 2, "convertible": 3, "bond": 4, "fund": 5}
        found = sorted(session.scalars(select(Instrument).where(Instrument.code == s)),
                       key=lambda i: rank.get(i.kind, 9))
        inst = found[0] if found else None
    if inst is None:
        raise NotFound(f"instrument {symbol!r} not found")
    return inst


def instruments_by_symbol(session: Session, symbols: Iterable[str]) -> dict[str, Instrument]:
    """The instruments of many symbols in one read, by symbol (unknown symbols are left out)."""
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    return {i.symbol: i for i in session.scalars(select(Instrument).where(Instrument.symbol.in_(wanted)))}


def last_prices(session: Session, symbols: Iterable[str]) -> dict[str, Decimal | None]:
    """The valuation price of each known symbol (None where there is none yet)."""
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    inst = priced_instruments()
    rows = session.execute(select(inst.c.symbol, inst.c.last_price).where(inst.c.symbol.in_(wanted)))
    return dict(rows.tuples().all())


def instruments_of_kinds(session: Session, kinds: Iterable[str] | None = None) -> list[Instrument]:
    """Every instrument of these kinds (``stock``, ``etf`` …; all when None), by symbol: a
    universe to evaluate or price in one pass."""
    stmt = select(Instrument).order_by(Instrument.symbol)
    if kinds is not None:
        stmt = stmt.where(Instrument.kind.in_(list(kinds)))
    return list(session.scalars(stmt))


def instruments_sql() -> Subquery:
    """The instrument master as a read-only subquery (the table's columns, named alike) for SQL that
    joins holdings or trades to prices, boards and ratings inside the database: the batch paths
    cannot afford a round trip per row, and must not write the table. ``last_price`` is the
    valuation price (latest quote, else last close, else reference; see ``valuation``) and
    ``price_at`` its time (None for a reference price)."""
    return priced_instruments()


def instrument_names(engine: Engine) -> list[tuple[str, str]] | None:
    """``(symbol, name)`` of every instrument, or None while the database has no instrument table
    (a data dir before its first ``brokercare db upgrade``)."""
    if not inspect(engine).has_table(Instrument.__tablename__):
        return None
    with engine.connect() as conn:
        return [(symbol, name) for symbol, name in conn.execute(select(Instrument.symbol, Instrument.name))]


def find_instruments(session: Session, query: str, *, kind: str | None = None,
                     limit: int = 20) -> list[Instrument]:
    """Instruments whose code starts with, or whose Chinese name contains, ``query``.

    Exact code matches come first, then stocks before funds, then by code.
    """
    q = query.strip()
    if not q:
        return []
    stmt = select(Instrument).where(
        or_(Instrument.code.startswith(q.split(".")[0]), Instrument.name.contains(q),
            Instrument.symbol == q.upper())
    )
    if kind:
        stmt = stmt.where(Instrument.kind == kind)
    exact = (Instrument.code == q.split(".")[0]) | (Instrument.name == q)
    stmt = stmt.order_by(exact.desc(), (Instrument.kind == "stock").desc(), Instrument.code)
    stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def instrument_rows(session: Session) -> list[dict]:
    """Every instrument's reference facts in one read, for batch engines: symbol, kind, board,
    exchange, name, lot size, risk rating, the valuation price (a float, None without one) and its
    time (``price_at``, None for a reference price)."""
    i = priced_instruments().c
    rows = session.execute(
        select(i.symbol, i.kind, i.board, i.exchange, i.name, i.lot_size, i.last_price, i.price_at, i.risk_rating)
    ).all()
    return [
        {"symbol": r.symbol, "kind": r.kind, "board": r.board, "exchange": r.exchange, "name": r.name,
         "lot_size": r.lot_size, "last_price": float(r.last_price) if r.last_price is not None else None,
         "price_at": r.price_at, "risk_rating": r.risk_rating}
        for r in rows
    ]


def load_instruments(engine: Engine, rows: Iterable[dict] | None = None) -> int:
    """Insert or refresh the instrument master (the shipped list by default); returns the count.

    Reference prices are refreshed only where the stored price came from reference data, so a
    price set by a live feed survives a reload.
    """
    data = list(rows) if rows is not None else shipped_instruments()
    for r in data:
        if r.get("last_price") is not None and not isinstance(r["last_price"], Decimal):
            r["last_price"] = Decimal(str(r["last_price"]))
    insert = sqlite_insert if engine.dialect.name == "sqlite" else pg_insert
    stmt = insert(Instrument.__table__)
    src = Instrument.__table__.c.price_source
    keep_live = or_(src.is_(None), *(src == literal_column(f"'{v}'") for v in REFERENCE_SOURCES))
    updates = {c: getattr(stmt.excluded, c) for c in
               ("code", "exchange", "name", "kind", "board", "industry", "area", "listed_on",
                "is_st", "lot_size", "risk_rating", "currency")}
    for col in ("last_price", "price_source"):
        updates[col] = case((keep_live, getattr(stmt.excluded, col)),
                            else_=Instrument.__table__.c[col])
    stmt = stmt.on_conflict_do_update(index_elements=["symbol"], set_=updates)
    with engine.begin() as conn:
        for start in range(0, len(data), 2000):
            conn.execute(stmt, data[start:start + 2000])
    return len(data)


def instrument_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Instrument)) or 0


def instrument_count_by_kind(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Instrument.kind, func.count()).group_by(Instrument.kind)).tuples().all())


# --- the quote store -------------------------------------------------------------------------

def load_bars(engine: Engine, path: Path, freq: str = "daily") -> ImportReport:
    """Load a bars file (see ``barfiles``): all or nothing, idempotent by (symbol, time).

    A daily file also makes each symbol's newest close its latest quote unless a newer quote is
    stored. ``inserted`` counts new bars, ``updated`` bars that were already stored (re-sent or
    corrected)."""
    bars = read_bars(path, freq)
    table = DailyBar.__table__ if freq == "daily" else MinuteBar.__table__
    rows = bars.frame.drop("row").to_dicts()
    symbols = bars.frame["symbol"].unique().to_list()
    with engine.begin() as conn:
        before = _bar_count(conn, table, symbols)
        if freq == "daily":
            store.upsert_daily_bars(conn, rows)
            store.refresh_closes(conn, symbols)
        else:
            store.upsert_minute_bars(conn, rows)
        bars.report.inserted = _bar_count(conn, table, symbols) - before
    bars.report.updated = len(rows) - bars.report.inserted
    return bars.report


def load_daily_bars(conn: Connection, rows: Sequence[dict]) -> int:
    """Insert or correct daily bars given as rows (``symbol, day, open, high, low, close, volume,
    amount``) — what ``load_bars`` does with a file — and make each symbol's newest close its
    latest quote unless a newer one is stored; the caller commits."""
    store.upsert_daily_bars(conn, rows)
    return store.refresh_closes(conn, {r["symbol"] for r in rows})


def _bar_count(conn, table, symbols: list[str]) -> int:
    total = 0
    for start in range(0, len(symbols), 1000):
        total += conn.scalar(select(func.count()).select_from(table)
                             .where(table.c.symbol.in_(symbols[start:start + 1000]))) or 0
    return total


def ingest_quotes(session: Session, ticks: list[store.Tick]) -> store.IngestResult:
    """Store a batch of snapshots (caller commits) and announce the accepted ones as one
    ``quote.snapshot`` event after the commit: the batch's newest time, each code's newest price."""
    result = store.ingest(session.connection(), ticks)
    if result.accepted:
        newest: dict[str, store.Tick] = {}
        for t in result.accepted:
            newest[t.symbol] = t
        at = max(t.time for t in newest.values())
        symbols = sorted(newest)
        payload = snapshot_payload(at, symbols, np.array([newest[s].price for s in symbols]),
                                   np.array([newest[s].volume for s in symbols]))
        publish_after_commit(session, Event(type=SNAPSHOT_EVENT, payload=payload))
    return result


def quote_of(session: Session, symbol: str, *, now: datetime | None = None) -> dict:
    """The latest price of one instrument with its time, source and staleness (404 without one)."""
    inst = get_instrument(session, symbol)
    value = valuations(session, [inst.symbol], now=now).get(inst.symbol)
    if value is None:
        raise NotFound(f"no price for {inst.symbol} yet")
    q = session.get(Quote, inst.symbol)
    prev = q.prev_close if q is not None else None
    return {
        "symbol": inst.symbol, "name": inst.name, "price": value.price, "prev_close": prev,
        "change_pct": round(float(value.price / prev - 1) * 100, 2) if prev else None,
        "volume": q.volume if q is not None else None, "time": value.as_of, "source": value.source,
        "stale": value.stale, "label": value.label(),
    }


def previous_closes(session: Session, symbols: list[str], day: date) -> np.ndarray:
    """Each symbol's close before ``day`` (NaN where unknown), aligned to ``symbols``: what the day's
    price limits and changes are measured from. From the stored quote (its ``prev_close`` when it
    is of ``day`` itself, its price when it is of an earlier day), else the reference price."""
    out = np.full(len(symbols), np.nan)
    pos = {s: k for k, s in enumerate(symbols)}
    i, q = Instrument.__table__.c, Quote.__table__.c
    for start in range(0, len(symbols), 2000):
        part = symbols[start:start + 2000]
        rows = session.execute(select(i.symbol, i.last_price, q.price, q.prev_close, q.time)
                               .select_from(Instrument.__table__.outerjoin(Quote.__table__, q.symbol == i.symbol))
                               .where(i.symbol.in_(part)))
        for symbol, ref, price, prev, at in rows:
            if at is not None and store.as_utc(at).astimezone(SHANGHAI).date() >= day:
                value = prev
            elif price is not None:
                value = price
            else:
                value = ref
            if value is not None:
                out[pos[symbol]] = float(value)
    return out


def daily_history(session: Session, symbols: Iterable[str] | None = None, *, before: date | None = None,
                  days: int = 260) -> pd.DataFrame:
    """The stored daily bars of the last ``days`` trading days before ``before`` (all days when
    None): columns ``symbol, date, open, high, low, close, volume``, by symbol and date. What
    volatilities, betas and 20-day volumes are computed from."""
    d = DailyBar.__table__.c
    start = None
    if before is not None:
        start = session.scalar(select(d.day).where(d.day < before).group_by(d.day)
                               .order_by(d.day.desc()).offset(days - 1).limit(1))
    stmt = select(d.symbol, d.day.label("date"), d.open, d.high, d.low, d.close, d.volume)
    if before is not None:
        stmt = stmt.where(d.day < before)
    if start is not None:
        stmt = stmt.where(d.day >= start)
    if symbols is not None:
        stmt = stmt.where(d.symbol.in_(sorted(set(symbols))))
    rows = session.execute(stmt.order_by(d.symbol, d.day)).all()
    frame = pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "volume"])
    for c in ("open", "high", "low", "close", "volume"):
        frame[c] = frame[c].astype("float64")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame
