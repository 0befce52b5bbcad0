"""Instrument look-ups and the reference-data loader other domains call."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import Engine, Subquery, case, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from brokercare.core.errors import NotFound
from brokercare.market.limits import limit_arrays as limit_arrays
from brokercare.market.models import Instrument
from brokercare.market.quotes import POSITION_EVENT as POSITION_EVENT
from brokercare.market.quotes import SNAPSHOT_EVENT as SNAPSHOT_EVENT
from brokercare.market.quotes import QuoteRow as QuoteRow
from brokercare.market.quotes import group_snapshots as group_snapshots
from brokercare.market.quotes import payload_arrays as payload_arrays
from brokercare.market.quotes import read_rows as read_rows
from brokercare.market.reference import shipped_instruments

#: Price sources written by the reference loader; any other source (a live feed) is kept on reload.
REFERENCE_SOURCES = ("history", "nav", "index", "par", "modelled")


def normalise_symbol(text: str) -> str:
    """``600519`` → ``600519.SH``, ``sz300750`` → ``300750.SZ``; full symbols are upper-cased."""
    from brokercare.market.reference import board_of

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
    """The instruments of many full symbols in one read (unknown symbols are left out)."""
    wanted = sorted(set(symbols))
    found: dict[str, Instrument] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start:start + 900]
        found.update((i.symbol, i) for i in session.scalars(select(Instrument).where(Instrument.symbol.in_(chunk))))
    return found


def instruments_of_kinds(session: Session, kinds: Iterable[str]) -> list[Instrument]:
    """Every instrument of the given kinds (``stock``, ``etf``, ...), by symbol."""
    return list(session.scalars(
        select(Instrument).where(Instrument.kind.in_(list(kinds))).order_by(Instrument.symbol)
    ))


def reference_prices() -> Subquery:
    """Symbol, exchange, kind and reference price of every instrument, as a SQL subquery.

    For a domain that values its own rows in one bulk statement (a whole book's net assets, its
    securities-lending debt, market values per exchange): it joins this on ``symbol`` instead of
    the instruments table, whose shape stays the market domain's business.
    """
    return select(
        Instrument.symbol, Instrument.exchange, Instrument.kind, Instrument.last_price
    ).subquery("reference_prices")


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
