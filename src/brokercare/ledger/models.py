"""The ledger's tables: entries (append-only), signed checkpoints (append-only), and the head.

The database itself refuses ``UPDATE`` and ``DELETE`` (and on PostgreSQL ``TRUNCATE``) on entries and
checkpoints: triggers on both backends, and on PostgreSQL the privileges are revoked as well. The
triggers are installed both by the migration and by ``metadata.create_all`` (the DDL below), so
every way of creating the schema yields the same guarantees. ``ledger_head`` is the one mutable row:
the size and compact range that let an append compute the new tree head in O(log n); appends lock
it, which serialises them so indexes are gap-free; ``verify`` never trusts it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import DDL, Connection, Integer, String, Table, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, UTCDateTime, utcnow


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    # The leaf index (0-based), assigned under the head lock: gap-free by construction.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    subject: Mapped[str] = mapped_column(String(96), index=True)
    # The exact bytes hashed into the leaf (canonical JSON of index, kind, subject, time, data).
    body: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    # The tree head after this entry (size = id + 1), Ed25519-signed.
    tree_root: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(88))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def index(self) -> int:
        return self.id


class LedgerCheckpoint(Base):
    """A signed tree head, stored periodically and on demand (publish it to a witness)."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(Integer, unique=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(88))


class LedgerHead(Base):
    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer, default=0)
    compact_range: Mapped[str] = mapped_column(Text, default="")  # hex node hashes, comma-separated
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


APPEND_ONLY_TABLES = ("ledger_entries", "ledger_checkpoints")


def sqlite_guard_ddl(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
    ]


PG_GUARD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused', "
    "ERRCODE = 'insufficient_privilege'; END $$"
)


def pg_guard_ddl(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC, CURRENT_USER",
    ]


def guard_ddl(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return sqlite_guard_ddl(table)
    if dialect == "postgresql":
        return [PG_GUARD_FUNCTION, *pg_guard_ddl(table)]
    return []


HEAD_ROW = "INSERT INTO ledger_head (id, size, compact_range, updated_at) VALUES (1, 0, '', CURRENT_TIMESTAMP)"


def _install_guards(table: str) -> Callable[..., None]:
    def listener(target: Table, connection: Connection, **_kw: object) -> None:
        for statement in guard_ddl(connection.dialect.name, table):
            connection.exec_driver_sql(statement)

    return listener


for _table in (LedgerEntry.__table__, LedgerCheckpoint.__table__):
    event.listen(_table, "after_create", _install_guards(_table.name))
event.listen(LedgerHead.__table__, "after_create", DDL(HEAD_ROW))
