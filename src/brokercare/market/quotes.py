"""Quote ingestion: Level-1 snapshots and minute bars from CSV replay files and from the event bus.

CSV format (UTF-8, header required): ``datetime,code,price[,volume]``

- ``datetime``: ISO 8601; without a zone it is Beijing time (``2024-09-30 09:35:00``);
- ``code``: ``600519``, ``600519.SH`` or ``sh600519``; a bare code gets its exchange from its
  prefix (6/9 -> SH, 0/2/3 -> SZ, 4/8/92 -> BJ);
- ``price``: last price (a minute bar's close) in yuan; ``volume``: shares traded in that row
  (per bar, not cumulative), optional.

Rows with the same ``datetime`` form one snapshot; rows need not be sorted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import ValidationFailed

# The snapshot event moved to ``market.events``; these names stay importable from here for the
# readers that still use them.
from brokercare.market.events import POSITION_EVENT as POSITION_EVENT
from brokercare.market.events import SNAPSHOT_EVENT as SNAPSHOT_EVENT
from brokercare.market.events import payload_arrays as payload_arrays
from brokercare.market.events import snapshot_payload as snapshot_payload


def to_symbol(code: str) -> str:
    """Normalise ``600519`` / ``sh600519`` / ``600519.SH`` to ``600519.SH``."""
    c = code.strip().upper()
    if "." in c:
        num, ex = c.split(".", 1)
        if ex in ("SH", "SZ", "BJ") and num.isdigit() and len(num) == 6:
            return f"{num}.{ex}"
        raise ValidationFailed(f"bad security code {code!r}")
    if c[:2] in ("SH", "SZ", "BJ") and c[2:].isdigit():
        return f"{c[2:]}.{c[:2]}"
    if not (c.isdigit() and len(c) == 6):
        raise ValidationFailed(f"bad security code {code!r}: expected 6 digits such as 600519")
    if c.startswith(("92", "4", "8")):
        return f"{c}.BJ"
    if c.startswith(("6", "9")):
        return f"{c}.SH"
    return f"{c}.SZ"


@dataclass(frozen=True)
class QuoteRow:
    time: datetime
    symbol: str
    price: float
    volume: float


def parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValidationFailed(
            f"bad datetime {text!r}: use ISO 8601, e.g. 2024-09-30 09:35:00"
        ) from exc
    return t if t.tzinfo else t.replace(tzinfo=SHANGHAI)


def read_rows(source: str | Path | io.TextIOBase) -> list[QuoteRow]:
    """Parse a replay CSV; every bad line is reported with its line number, nothing is half-read."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise ValidationFailed(f"file not found: {path}")
        text = path.read_text("utf-8-sig")
    else:
        text = source.read()
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    missing = {"datetime", "code", "price"} - set(fields)
    if missing:
        raise ValidationFailed(
            f"replay CSV needs the columns datetime,code,price[,volume]; missing: {', '.join(sorted(missing))}"
        )
    reader.fieldnames = fields
    rows: list[QuoteRow] = []
    errors: list[str] = []
    for n, rec in enumerate(reader, start=2):
        try:
            try:
                price = float(rec["price"])
            except (TypeError, ValueError):
                raise ValueError(f"price {rec['price']!r} is not a number") from None
            if not np.isfinite(price) or price <= 0:
                raise ValueError("price must be positive")
            vol = float(rec.get("volume") or 0)
            if vol < 0:
                raise ValueError("volume must not be negative")
            rows.append(QuoteRow(parse_time(rec["datetime"]), to_symbol(rec["code"]), price, vol))
        except (ValueError, TypeError, ValidationFailed) as exc:
            detail = exc.detail if isinstance(exc, ValidationFailed) else str(exc)
            errors.append(f"line {n}: {detail}")
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ValidationFailed("bad replay rows: " + "; ".join(errors[:5]) + more)
    if not rows:
        raise ValidationFailed("the replay file has no rows")
    return rows


def group_snapshots(rows: Iterable[QuoteRow]) -> Iterator[tuple[datetime, list[QuoteRow]]]:
    by_time: dict[datetime, list[QuoteRow]] = {}
    for r in rows:
        by_time.setdefault(r.time, []).append(r)
    for t in sorted(by_time):
        yield t, by_time[t]
