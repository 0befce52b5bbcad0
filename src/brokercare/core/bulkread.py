"""Bulk reads for batch engines: rows straight from the database driver, whole columns at once.

A nightly batch reads millions of rows; going through SQLAlchemy's per-value result processing
(datetime parsing above all) costs more than the query itself. Bind parameters still go through
SQLAlchemy as usual; rows are read from the DBAPI cursor, and Polars converts whole columns.
SQLite hands back timestamps as text and booleans as integers, PostgreSQL native objects:
:func:`read_frame` gives the same frame on both.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import BigInteger, Connection, String, case, cast, func
from sqlalchemy.sql import ColumnElement, Select


def driver_rows(conn: Connection, stmt: Select) -> list[tuple]:
    """The rows of ``stmt`` as the driver's tuples (no result processing)."""
    cursor = conn.execute(stmt).cursor
    rows = cursor.fetchall()
    cursor.close()
    return rows


def read_frame(conn: Connection, stmt: Select, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """``stmt`` as a Polars frame of ``schema`` (names in the statement's column order)."""
    rows = driver_rows(conn, stmt)
    if conn.dialect.name != "sqlite":
        return pl.DataFrame(rows, schema=schema, orient="row")
    raw = {name: (pl.String if isinstance(dt, pl.Datetime) else pl.Int64 if dt == pl.Boolean else dt)
           for name, dt in schema.items()}
    frame = pl.DataFrame(rows, schema=raw, orient="row")
    fixes = [
        pl.col(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_zone="UTC", time_unit="us", strict=False)
        if isinstance(dt, pl.Datetime) else pl.col(name).cast(pl.Boolean)
        for name, dt in schema.items() if isinstance(dt, pl.Datetime) or dt == pl.Boolean
    ]
    return frame.with_columns(fixes) if fixes else frame


# SQL building blocks of grouped batch reads (portable between SQLite and PostgreSQL)


def fen(expr: ColumnElement) -> ColumnElement:
    """Round a money expression to whole fen as a BIGINT (exact on both backends)."""
    return cast(func.round(expr * 100), BigInteger)


def sum_if(cond: ColumnElement, value: ColumnElement | int = 1) -> ColumnElement:
    """``SUM(CASE WHEN cond THEN value ELSE 0 END)``, 0 for an empty group."""
    return func.coalesce(func.sum(case((cond, value), else_=0)), 0)


def date_text(col: ColumnElement) -> ColumnElement:
    """A date column as ``YYYY-MM-DD`` text (what SQLite stores; PostgreSQL's cast gives the same)."""
    return cast(col, String)


def beijing_date(col: ColumnElement, dialect: str) -> ColumnElement:
    """A UTC timestamp column's Beijing calendar day as ``YYYY-MM-DD`` text, grouped in SQL
    (SQLite keeps UTC text; PostgreSQL converts with the zone database)."""
    if dialect == "sqlite":
        return func.date(col, "+8 hours")
    return cast(func.date(func.timezone("Asia/Shanghai", col)), String)
