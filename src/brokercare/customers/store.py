"""Writing computed profiles and tier changes through each database's bulk path.

SQLite: one ``executemany`` of ``INSERT … ON CONFLICT DO UPDATE`` in the caller's transaction.
PostgreSQL: ``COPY`` (CSV) into a temporary table, then one ``INSERT … SELECT … ON CONFLICT``.
A tier change is recorded whenever the stored tier differs from the new one (``reason`` is
``initial`` for a customer's first profile), in the same transaction as the profile itself.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Connection, select

from brokercare.customers.models import CustomerProfile

PROFILE_COLUMNS = ("customer_id", "aum", "tier", "high_net_worth", "life_stage", "tags", "features",
                   "computed_at")
CHANGE_COLUMNS = ("customer_id", "from_tier", "to_tier", "aum", "changed_at", "reason")


def _sqlite_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def previous_tiers(conn: Connection, customer_ids: pl.Series) -> pl.DataFrame:
    lo, hi = int(customer_ids.min()), int(customer_ids.max())
    rows = conn.execute(
        select(CustomerProfile.customer_id, CustomerProfile.tier).where(
            CustomerProfile.customer_id.between(lo, hi)
        )
    ).all()
    return pl.DataFrame(rows, schema={"customer_id": pl.Int64, "from_tier": pl.String}, orient="row")


def tier_changes(encoded: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    joined = encoded.select("customer_id", "tier", "aum").join(previous, on="customer_id", how="left")
    return joined.filter(pl.col("from_tier").is_null() | (pl.col("from_tier") != pl.col("tier"))).select(
        "customer_id", "from_tier", to_tier="tier", aum="aum",
        reason=pl.when(pl.col("from_tier").is_null()).then(pl.lit("initial")).otherwise(pl.lit("aum")),
    )


def _copy_csv(conn: Connection, table: str, columns: tuple[str, ...], frame: pl.DataFrame) -> None:
    buf = io.BytesIO()
    frame.select(columns).write_csv(buf, include_header=False, null_value="")
    raw = conn.connection.dbapi_connection
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
    with raw.cursor() as cur, cur.copy(sql) as copy:
        copy.write(buf.getvalue())


def write_profiles(conn: Connection, encoded: pl.DataFrame, computed_at: datetime) -> pl.DataFrame:
    """Upsert ``encoded`` (see :func:`engine.encode`) and record tier changes; returns the changes."""
    if encoded.height == 0:
        return pl.DataFrame(schema={c: pl.String for c in CHANGE_COLUMNS})
    changes = tier_changes(encoded, previous_tiers(conn, encoded["customer_id"]))
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stamp = _sqlite_time(computed_at)
        rows = encoded.with_columns(
            pl.col("high_net_worth").cast(pl.Int64), computed_at=pl.lit(stamp)
        ).select(PROFILE_COLUMNS).rows()
        updates = ", ".join(f"{c} = excluded.{c}" for c in PROFILE_COLUMNS[1:])
        conn.exec_driver_sql(
            f"INSERT INTO customer_profiles ({', '.join(PROFILE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(PROFILE_COLUMNS))}) "
            f"ON CONFLICT (customer_id) DO UPDATE SET {updates}",
            rows,
        )
        if changes.height:
            conn.exec_driver_sql(
                f"INSERT INTO tier_changes ({', '.join(CHANGE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                changes.with_columns(changed_at=pl.lit(stamp)).select(CHANGE_COLUMNS).rows(),
            )
    else:
        stamp = computed_at.astimezone(UTC).isoformat()
        conn.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS cdp_profiles_in "
            "(LIKE customer_profiles INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        conn.exec_driver_sql("TRUNCATE cdp_profiles_in")
        _copy_csv(conn, "cdp_profiles_in", PROFILE_COLUMNS,
                  encoded.with_columns(computed_at=pl.lit(stamp)))
        updates = ", ".join(f"{c} = excluded.{c}" for c in PROFILE_COLUMNS[1:])
        cols = ", ".join(PROFILE_COLUMNS)
        conn.exec_driver_sql(
            f"INSERT INTO customer_profiles ({cols}) SELECT {cols} FROM cdp_profiles_in "
            f"ON CONFLICT (customer_id) DO UPDATE SET {updates}"
        )
        if changes.height:
            _copy_csv(conn, "tier_changes", CHANGE_COLUMNS, changes.with_columns(changed_at=pl.lit(stamp)))
    return changes
