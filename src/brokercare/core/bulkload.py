"""Bulk inserts of column arrays through each backend's fast path.

SQLite gets one ``executemany`` per batch on the raw driver connection; PostgreSQL gets ``COPY``.
Columns arrive as NumPy arrays or lists; timestamps as ``datetime64`` in UTC, dates as
``datetime64[D]``. Values are formatted exactly as SQLAlchemy's own types store them, so rows
written here read back through the ORM like any other (``UTCDateTime`` on SQLite is
``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np
from sqlalchemy import Connection, text


def _sqlite_timestamps(values: np.ndarray) -> list:
    s = np.datetime_as_string(values.astype("datetime64[us]"), unit="us")
    chars = s.view("U1").reshape(len(s), -1).copy()
    chars[:, 10] = " "
    out = chars.view(f"U{chars.shape[1]}").ravel().tolist()
    if np.isnat(values).any():
        nat = np.isnat(values)
        out = [None if n else v for v, n in zip(out, nat.tolist(), strict=True)]
    return out


def column_values(values: Any, dialect: str) -> list:
    """One column as a list of driver-ready Python values for ``dialect``."""
    if isinstance(values, list):
        return values
    arr = np.asarray(values)
    kind = arr.dtype.kind
    if kind == "M":
        unit = np.datetime_data(arr.dtype)[0]
        if unit == "D":
            out = np.datetime_as_string(arr, unit="D").tolist()
            return [None if v == "NaT" else v for v in out] if np.isnat(arr).any() else out
        out = _sqlite_timestamps(arr)
        if dialect != "sqlite":
            out = [None if v is None else v + "+00:00" for v in out]
        return out
    if kind == "b":
        return arr.astype(np.int8).tolist() if dialect == "sqlite" else arr.tolist()
    if kind == "f":
        out = arr.tolist()
        if np.isnan(arr).any():
            out = [None if v != v else v for v in out]
        return out
    return arr.tolist()


def insert_columns(conn: Connection, table: str, columns: Mapping[str, Any],
                   *, batch: int = 50_000) -> int:
    """Insert the rows given column-wise into ``table`` on ``conn``'s open transaction."""
    names = list(columns)
    if not names:
        return 0
    dialect = conn.dialect.name
    cols = [column_values(columns[n], dialect) for n in names]
    n = len(cols[0])
    if n == 0:
        return 0
    if not conn.in_transaction():
        conn.begin()  # so that conn.commit() / rollback() reach the driver connection
    raw = conn.connection.driver_connection
    if dialect == "sqlite":
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        cur = raw.cursor()
        for start in range(0, n, batch):
            cur.executemany(sql, zip(*(c[start:start + batch] for c in cols), strict=True))
        cur.close()
    else:
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as cp:
            for row in zip(*cols, strict=True):
                cp.write_row(row)
    return n


def load_frames(conn: Connection, tables: Sequence[str], frames: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Insert column frames (``{table: {column: values}}``) into ``tables``, in that order.

    A domain's service calls this with the tables it owns and opens to bulk loads (parents
    first); a frame for any other table is refused before anything is written. Returns the rows
    written per table.
    """
    unknown = sorted(set(frames) - set(tables))
    if unknown:
        raise ValueError(f"no bulk load into {', '.join(unknown)} here; tables: {', '.join(tables)}")
    return {t: insert_columns(conn, t, frames[t]) for t in tables if t in frames}


def reset_sequences(conn: Connection, tables: Sequence[str]) -> None:
    """After inserts with explicit ids, move PostgreSQL's id sequences past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        ))


@contextmanager
def fast_sqlite_load(conn: Connection, tables: Sequence[str] = ()):
    """Relax SQLite for a bulk load on ``conn`` and restore it afterwards.

    Foreign keys are not checked row by row (the loader writes consistent data by construction),
    the OS is not asked to sync after each commit, the rollback journal replaces the WAL while
    loading (new pages are then written once instead of twice), and the named secondary indexes
    of ``tables`` are dropped and rebuilt at the end, which sorts once instead of inserting at
    random. A crash mid-load loses that load only; ``finally`` restores indexes and settings.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    if conn.in_transaction():
        conn.commit()
    if raw.in_transaction:
        raw.commit()
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("PRAGMA synchronous=OFF")
    raw.execute("PRAGMA cache_size=-400000")
    raw.execute("PRAGMA temp_store=MEMORY")
    journal = raw.execute("PRAGMA journal_mode").fetchone()[0]
    # Fails when another connection holds the WAL open; then the load simply stays in WAL.
    with suppress(Exception):
        raw.execute("PRAGMA journal_mode=DELETE")
    indexes = []
    if tables:
        marks = ", ".join("?" * len(tables))
        indexes = raw.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})", tuple(tables)).fetchall()
        for name, _sql in indexes:
            raw.execute(f'DROP INDEX "{name}"')
        raw.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()  # whatever the caller did not commit is not kept
        if raw.in_transaction:
            raw.rollback()
        for _name, sql in indexes:
            raw.execute(sql)
        raw.commit()
        raw.execute(f"PRAGMA journal_mode={journal}")
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA cache_size=-2000")
        raw.execute("PRAGMA foreign_keys=ON")


def max_id(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one())
