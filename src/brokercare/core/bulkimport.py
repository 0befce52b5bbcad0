"""Importing a broker's own files: read, validate every row, write all or nothing.

A domain describes one importable entity with an :class:`ImportSpec` (its columns, how each is
parsed and checked, its natural key, how rows become table rows). :func:`run_import` does the rest:
it reads CSV (UTF-8 or GBK, as Chinese back-office systems export) or Parquet, reports each bad
row by file row number and reason, and then either writes nothing (default: one transaction, the
database is left exactly as it was) or writes the good rows and puts the bad ones, with a
``reason`` column, in a quarantine file. Rows are matched by natural key, so re-importing a file
changes nothing, and a corrected file updates only what changed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Table, bindparam, select, update

from brokercare.core.errors import ValidationFailed

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_REPORTED = 200


class ImportRejected(ValidationFailed):
    """The file has bad rows and no quarantine file was named: nothing was written."""

    def __init__(self, report: ImportReport):
        self.report = report
        first = "; ".join(f"row {e.row}: {e.reason}" for e in report.errors[:3])
        super().__init__(f"{report.rejected} of {report.rows} rows are invalid, nothing imported ({first})")


@dataclass
class RowError:
    row: int  # line number in the file (the header is row 1)
    reason: str


@dataclass
class ImportReport:
    kind: str
    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    quarantine: str | None = None


@dataclass
class Column:
    """One file column: ``parse`` turns the text into a value or raises ``ValueError(reason)``."""

    name: str
    parse: Callable[[str], Any]
    required: bool = True
    default: Any = None


@dataclass
class Prepared:
    """Valid rows as table values keyed by natural key, and the rows that failed later checks."""

    rows: dict[Any, dict]
    errors: dict[int, str]


@dataclass
class ImportSpec:
    kind: str
    table: Table
    columns: list[Column]
    key: tuple[str, ...]  # natural key, as file column names
    key_columns: tuple[str, ...]  # the same key as table columns
    # (connection, parsed rows by file row number) -> table rows keyed by file row number + errors
    prepare: Callable[[Connection, dict[int, dict]], Prepared]
    # columns compared to decide whether an existing row changed (table column names)
    compared: tuple[str, ...] = ()
    # (connection, existing row mapping, new row) -> True if it differs (for encrypted columns)
    differs: Callable[[Connection, Any, dict], bool] | None = None
    # further table columns ``differs`` needs from the stored row
    fetched: tuple[str, ...] = ()
    # run before the import transaction (e.g. make sure a data key exists and is committed)
    setup: Callable[[Engine], None] | None = None
    # (engine, table rows inserted or updated) after the transaction commits: announce them
    after_commit: Callable[[Engine, list[dict]], None] | None = None


# --- parsers shared by the specs -------------------------------------------------------------

def text(max_len: int) -> Callable[[str], str]:
    def parse(v: str) -> str:
        v = v.strip()
        if len(v) > max_len:
            raise ValueError(f"longer than {max_len} characters")
        return v
    return parse


def pattern(regex: str, what: str, *, upper: bool = False) -> Callable[[str], str]:
    rx = re.compile(regex)

    def parse(v: str) -> str:
        v = v.strip().upper() if upper else v.strip()
        if not rx.fullmatch(v):
            raise ValueError(f"{v!r} is not {what}")
        return v
    return parse


def choice(mapping: dict[str, str], what: str) -> Callable[[str], str]:
    def parse(v: str) -> str:
        key = v.strip()
        if key in mapping:
            return mapping[key]
        if key.lower() in mapping:
            return mapping[key.lower()]
        raise ValueError(f"{v!r} is not a valid {what} ({', '.join(sorted(set(mapping.values())))})")
    return parse


def parse_date(v: str) -> date:
    s = v.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{v!r} is not a date (YYYY-MM-DD)")


def parse_datetime(v: str) -> datetime:
    """ISO date-time; without a zone it is Beijing time, as every A-share record is."""
    s = v.strip().replace("/", "-")
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{v!r} is not a date-time (YYYY-MM-DD HH:MM:SS)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHANGHAI)
    return dt


def decimal(*, min_value: Decimal | None = None, positive: bool = False, places: int = 2,
            max_value: Decimal | None = None) -> Callable[[str], Decimal]:
    quantum = Decimal(1).scaleb(-places)

    def parse(v: str) -> Decimal:
        s = v.strip().replace(",", "")
        try:
            d = Decimal(s)
        except InvalidOperation:
            raise ValueError(f"{v!r} is not a number") from None
        if not d.is_finite():
            raise ValueError(f"{v!r} is not a number")
        if positive and d <= 0:
            raise ValueError(f"{v!r} must be greater than 0")
        if min_value is not None and d < min_value:
            raise ValueError(f"{v!r} must be at least {min_value}")
        if max_value is not None and d > max_value:
            raise ValueError(f"{v!r} must be at most {max_value}")
        if d != d.quantize(quantum):
            raise ValueError(f"{v!r} has more than {places} decimal places")
        return d.quantize(quantum)
    return parse


def parse_bool(v: str) -> bool:
    return choice({"true": "1", "1": "1", "yes": "1", "是": "1", "false": "0", "0": "0",
                   "no": "0", "否": "0"}, "yes/no")(v) == "1"


# --- reading ---------------------------------------------------------------------------------

def decode_text(path: Path) -> str:
    """A broker's text file as UTF-8 (with or without BOM) or GBK/GB18030, as back-office systems export."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(f"{path.name}: neither UTF-8 nor GBK text")


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows (all values as stripped text) of a CSV or Parquet file."""
    if not path.exists():
        raise ValidationFailed(f"file not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        # Only Parquet needs pandas, which takes a second to import; the domains' services
        # import this module, so every process would pay it.
        import pandas as pd

        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # any pyarrow error means an unreadable file
            raise ValidationFailed(f"{path.name} is not a readable Parquet file: {exc}") from None
        header = [str(c) for c in df.columns]
        rows = []
        for rec in df.to_dict("records"):
            rows.append({str(k): "" if v is pd.NaT else _cell_text(v) for k, v in rec.items()})
        return header, rows
    content = decode_text(path)
    reader = csv.reader(content.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValidationFailed(f"{path.name} is empty") from None
    rows = []
    for line in reader:
        if not any(c.strip() for c in line):
            rows.append(None)  # blank line: keeps row numbers aligned, skipped below
            continue
        rec = {h: (line[i].strip() if i < len(line) else "") for i, h in enumerate(header)}
        if len(line) > len(header):
            rec["__extra__"] = ",".join(line[len(header):])
        rows.append(rec)
    return header, rows


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v != v:
        return ""
    if hasattr(v, "isoformat"):
        if isinstance(v, datetime) and v.time() == time(0) and v.tzinfo is None:
            return v.date().isoformat()
        return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


# --- running ---------------------------------------------------------------------------------

def _parse_rows(spec: ImportSpec, header: list[str], rows: list) -> tuple[dict[int, dict], dict[int, str]]:
    parsed: dict[int, dict] = {}
    errors: dict[int, str] = {}
    seen: dict[tuple, int] = {}
    for i, rec in enumerate(rows):
        row_no = i + 2
        if rec is None:
            continue
        if "__extra__" in rec:
            errors[row_no] = f"more values than the {len(header)} header columns"
            continue
        values, problems = {}, []
        for col in spec.columns:
            raw = rec.get(col.name, "")
            if raw == "":
                if col.required:
                    problems.append(f"{col.name} is missing")
                values[col.name] = col.default
                continue
            try:
                values[col.name] = col.parse(raw)
            except ValueError as exc:
                problems.append(f"{col.name}: {exc}")
        if problems:
            errors[row_no] = "; ".join(problems)
            continue
        key = tuple(values[k] for k in spec.key)
        if key in seen:
            errors[row_no] = f"duplicate {'+'.join(spec.key)} {'/'.join(map(str, key))} (first at row {seen[key]})"
            continue
        seen[key] = row_no
        parsed[row_no] = values
    return parsed, errors


def _normalise(v: Any) -> Any:
    if isinstance(v, Decimal):
        return v.normalize()
    if isinstance(v, float):
        return Decimal(str(v)).normalize()
    if isinstance(v, datetime):
        return v.astimezone(ZoneInfo("UTC")).replace(microsecond=0)
    return v


def _write(conn: Connection, spec: ImportSpec, rows: dict[int, dict], report: ImportReport) -> list[dict]:
    """Insert new keys, update changed ones; returns the rows written."""
    table = spec.table
    key_cols = [table.c[k] for k in spec.key_columns]
    keys = [tuple(r[k] for k in spec.key_columns) for r in rows.values()]
    existing: dict[tuple, Any] = {}
    wanted = ["id", *spec.key_columns, *spec.compared, *spec.fetched]
    cols = [table.c[c] for c in dict.fromkeys(wanted)]
    first_keys = sorted({k[0] for k in keys})
    for start in range(0, len(first_keys), 500):
        batch = first_keys[start:start + 500]
        for m in conn.execute(select(*cols).where(key_cols[0].in_(batch))).mappings():
            existing[tuple(m[k] for k in spec.key_columns)] = m
    inserts, updates = [], []
    for key, row in zip(keys, rows.values(), strict=True):
        old = existing.get(key)
        if old is None:
            inserts.append(row)
            continue
        changed = any(_normalise(old[c]) != _normalise(row[c]) for c in spec.compared if c in row)
        if not changed and spec.differs is not None:
            changed = spec.differs(conn, old, row)
        if changed:
            updates.append({**row, "_id": old["id"]})
        else:
            report.unchanged += 1
    if inserts:
        columns = [c for c in inserts[0] if not c.startswith("_")]
        conn.execute(table.insert(), [{c: r[c] for c in columns} for r in inserts])
        report.inserted = len(inserts)
    if updates:
        columns = [c for c in updates[0] if not c.startswith("_") and c not in spec.key_columns
                   and c != "created_at"]
        stmt = update(table).where(table.c.id == bindparam("_id")).values(
            {c: bindparam(c) for c in columns})
        conn.execute(stmt, [{**{c: r[c] for c in columns}, "_id": r["_id"]} for r in updates])
        report.updated = len(updates)
    return inserts + updates


def _write_quarantine(path: Path, header: list[str], rows: list, errors: dict[int, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", *header, "reason"])
        for row_no in sorted(errors):
            rec = rows[row_no - 2] or {}
            w.writerow([row_no, *(rec.get(h, "") for h in header), errors[row_no]])


def run_import(engine: Engine, spec: ImportSpec, path: Path, *,
               quarantine: Path | None = None) -> ImportReport:
    """Import ``path``; all or nothing unless ``quarantine`` names a file for the bad rows."""
    header, rows = read_rows(path)
    report = ImportReport(kind=spec.kind, file=str(path))
    missing = [c.name for c in spec.columns if c.required and c.name not in header]
    if missing:
        raise ValidationFailed(f"{path.name}: missing required column(s) {', '.join(missing)}; "
                               f"expected {', '.join(c.name for c in spec.columns)}")
    report.rows = sum(1 for r in rows if r is not None)
    parsed, errors = _parse_rows(spec, header, rows)
    if spec.setup is not None:
        spec.setup(engine)
    with engine.begin() as conn:
        prepared = spec.prepare(conn, parsed)
        errors.update(prepared.errors)
        good = {r: v for r, v in prepared.rows.items() if r not in errors}
        report.rejected = len(errors)
        report.errors = [RowError(r, errors[r]) for r in sorted(errors)]
        if errors and quarantine is None:
            raise ImportRejected(report)
        written = _write(conn, spec, good, report)
        if quarantine is not None and errors:
            # written before the commit: if the file cannot be written, nothing is imported
            _write_quarantine(quarantine, header, rows, errors)
            report.quarantine = str(quarantine)
    if spec.after_commit is not None and written:
        spec.after_commit(engine, written)
    return report


def lookup(conn: Connection, key_column, value_column, keys: Iterable) -> dict:
    """``{key: value}`` for the keys that exist, queried in batches."""
    keys = sorted(set(keys))
    out = {}
    for start in range(0, len(keys), 500):
        batch = keys[start:start + 500]
        out.update(dict(conn.execute(select(key_column, value_column).where(key_column.in_(batch))).all()))
    return out
