"""The exchanges' holiday notices as data: read the ``exchange_holidays`` table, load a notice file.

A notice file has one row per closed day: ``date`` (YYYY-MM-DD), ``exchanges`` (SH, SZ, BJ — or
上交所/深交所/北交所, SSE/SZSE/BSE — separated by ``;`` ``/`` or ``、``; empty means all three) and
``name`` (春节, 国庆节, …). Loading is all or nothing with row-numbered errors and idempotent (the
shared import machinery, keyed by date): loading the same notice twice changes nothing, a
corrected notice updates only the days that changed.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from importlib import resources

from sqlalchemy import Connection, Engine, func, insert, select

from brokercare.core.bulkimport import Column, ImportSpec, Prepared, parse_date, text
from brokercare.core.database import utcnow
from brokercare.core.models import ExchangeHoliday

SHIPPED_FILE = "data/exchange_holidays.csv"

#: The codes a notice may name, by every spelling a broker's file is likely to use.
EXCHANGE_CODES = {
    "SH": "SH", "SSE": "SH", "上交所": "SH", "上海证券交易所": "SH", "上海": "SH",
    "SZ": "SZ", "SZSE": "SZ", "深交所": "SZ", "深圳证券交易所": "SZ", "深圳": "SZ",
    "BJ": "BJ", "BSE": "BJ", "北交所": "BJ", "北京证券交易所": "BJ", "北京": "BJ",
}
ALL_EXCHANGES = "BJ,SH,SZ"
_SEPARATORS = re.compile(r"[;；/、|,，\s]+")


@dataclass(frozen=True)
class Holiday:
    day: date
    exchanges: str
    name: str


def parse_exchanges(value: str) -> str:
    parts = [p for p in _SEPARATORS.split(value.strip()) if p]
    if not parts or [p.upper() for p in parts] in (["ALL"], ["全部"]):
        return ALL_EXCHANGES
    codes = set()
    for part in parts:
        code = EXCHANGE_CODES.get(part.upper()) or EXCHANGE_CODES.get(part)
        if code is None:
            raise ValueError(f"{part!r} is not an exchange (SH, SZ or BJ)")
        codes.add(code)
    return ",".join(sorted(codes))


def _parse_day(value: str) -> date:
    day = parse_date(value)
    if not 1990 <= day.year <= 2100:
        raise ValueError(f"{value!r} is outside 1990–2100")
    return day


COLUMNS = [
    Column("date", _parse_day),
    Column("exchanges", parse_exchanges, required=False, default=ALL_EXCHANGES),
    Column("name", text(40)),
]


def _prepare(_conn: Connection, parsed: dict[int, dict]) -> Prepared:
    now = utcnow()
    return Prepared(
        rows={row_no: {"day": v["date"], "exchanges": v["exchanges"], "name": v["name"],
                       "loaded_at": now}
              for row_no, v in parsed.items()},
        errors={},
    )


def spec() -> ImportSpec:
    return ImportSpec(kind="calendar", table=ExchangeHoliday.__table__, columns=COLUMNS,
                      key=("date",), key_columns=("day",), prepare=_prepare,
                      compared=("exchanges", "name"), setup=seed_if_empty)


def shipped() -> list[Holiday]:
    """The notices shipped with BrokerCare (2024–2026)."""
    content = resources.files("brokercare.core").joinpath(SHIPPED_FILE).read_text("utf-8")
    return [Holiday(date.fromisoformat(r["date"]), parse_exchanges(r["exchanges"]), r["name"])
            for r in csv.DictReader(content.splitlines())]


def stored(conn: Connection) -> list[Holiday]:
    """The loaded notices; raises when the table does not exist yet (no ``db upgrade``)."""
    t = ExchangeHoliday.__table__
    return [Holiday(d, e, n) for d, e, n in conn.execute(select(t.c.day, t.c.exchanges, t.c.name))]


def seed_if_empty(engine: Engine) -> int:
    """Put the shipped notices in an empty table (a database built without the migrations), so a
    loaded year adds to 2024–2026 instead of replacing them."""
    t = ExchangeHoliday.__table__
    with engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(t)):
            return 0
        now = utcnow()
        rows = [{"day": h.day, "exchanges": h.exchanges, "name": h.name, "loaded_at": now}
                for h in shipped()]
        conn.execute(insert(t), rows)
    return len(rows)

