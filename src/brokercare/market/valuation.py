"""The one price every valuation uses: the latest quote, else the last close, else the reference.

AUM, P&L, margin ratios, tiers, IPO market values and proposals all read it, in Python through
:func:`valuations` or inside SQL through :func:`priced_instruments`, so the workbench, the assistant
and the batch jobs value a holding alike. Each price carries its as-of time and whether it is
stale: older than the last moment the market could have produced one (a live quote more than
:data:`FEED_LIMIT` old during the session, or anything before the previous session's close on a
morning or a holiday). A reference price from the instrument master has no time and is always
stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Subquery, case, func, literal, select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI, is_trading_day, previous_trading_day
from brokercare.core.database import utcnow
from brokercare.market.models import Instrument, Quote
from brokercare.market.store import as_utc

#: A live quote older than this during the session is stale (the feed has stopped).
FEED_LIMIT = timedelta(minutes=5)
#: Any price from this time of a trading day on counts as that day's close.
LAST_TRADE = time(14, 55)
OPEN = time(9, 30)
LUNCH = (time(11, 30), time(13, 0))
CLOSE = time(15, 0)


@dataclass(frozen=True)
class Valuation:
    price: Decimal | None
    as_of: datetime | None  # None for a reference price
    source: str  # feed (live quote), close (loaded daily close), reference (instrument master)
    stale: bool

    def label(self) -> str:
        """How a person should read the price's time, in Chinese (e.g. for the assistant)."""
        if self.as_of is None:
            return "参考价（非实时行情）"
        local = self.as_of.astimezone(SHANGHAI)
        kind = "收盘价" if self.source == "close" else "最新价"
        text = f"{local:%Y-%m-%d %H:%M} {kind}"
        return f"{text}（非最新行情）" if self.stale else text


def _at(day: date, t: time) -> datetime:
    return datetime.combine(day, t, tzinfo=SHANGHAI)


def expected_since(now: datetime) -> datetime:
    """The oldest as-of time a price may have at ``now`` without being stale."""
    local = now.astimezone(SHANGHAI)
    day, t = local.date(), local.time()
    if not is_trading_day(day) or t < OPEN:
        return _at(previous_trading_day(day), LAST_TRADE)
    if t >= CLOSE:
        return _at(day, LAST_TRADE)
    if LUNCH[0] <= t < LUNCH[1]:
        return _at(day, LUNCH[0]) - FEED_LIMIT
    return local - FEED_LIMIT


def is_stale(as_of: datetime | None, now: datetime | None = None) -> bool:
    if as_of is None:
        return True
    return as_of < expected_since(now or utcnow())


def price_sql(inst=None, quote=None):
    """The valuation rule as SQL expressions over an instrument row and its (outer-joined) quote:
    ``(price, as_of, source)``."""
    inst = inst if inst is not None else Instrument.__table__.c
    quote = quote if quote is not None else Quote.__table__.c
    price = func.coalesce(quote.price, inst.last_price)
    source = case((quote.price.is_not(None), quote.source),
                  (inst.last_price.is_not(None), literal("reference")), else_=literal(None))
    return price, quote.time, source


def priced_instruments() -> Subquery:
    """The instrument master with ``last_price`` the valuation price and ``price_at`` its time, a
    read-only subquery for SQL that values holdings inside the database."""
    i, q = Instrument.__table__, Quote.__table__
    price, as_of, _source = price_sql(i.c, q.c)
    columns = [price.label("last_price") if c.name == "last_price" else c for c in i.c]
    return (select(*columns, as_of.label("price_at"))
            .select_from(i.outerjoin(q, q.c.symbol == i.c.symbol))
            .subquery("instrument"))


def valuations(session: Session, symbols: Iterable[str], *, now: datetime | None = None) -> dict[str, Valuation]:
    """The price of each symbol with its time and staleness (symbols with no price at all, or
    unknown, are left out)."""
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    now = now or utcnow()
    horizon = expected_since(now)
    i, q = Instrument.__table__, Quote.__table__
    price, as_of, source = price_sql(i.c, q.c)
    out: dict[str, Valuation] = {}
    for start in range(0, len(wanted), 2000):
        part = wanted[start:start + 2000]
        rows = session.execute(select(i.c.symbol, price, as_of, source)
                               .select_from(i.outerjoin(q, q.c.symbol == i.c.symbol))
                               .where(i.c.symbol.in_(part)))
        for symbol, p, t, src in rows:
            if p is None:
                continue
            t = as_utc(t) if t is not None else None
            out[symbol] = Valuation(Decimal(p), t, src, t is None or t < horizon)
    return out
