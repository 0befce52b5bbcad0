"""Data-key rotation without downtime.

``rotate`` adds a new active key, then walks every encrypted column (every ``*_enc`` column in the
metadata) in primary-key order, re-sealing values still under an older key, one short transaction
per batch: readers never wait long, and a value is readable under its old key until its batch
commits (each value names its key). Each update is guarded by the old ciphertext, so a value a
concurrent writer changed meanwhile is left alone and picked up by the next sweep. Old keys stay
until no value uses them; ``retire`` then deletes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, Table, and_, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from brokercare.core.database import Base
from brokercare.core.domains import load_all_models
from brokercare.core.errors import Conflict
from brokercare.ledger.service import append
from brokercare.security.crypto import create_data_key, get_cipher
from brokercare.security.models import DataKey


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: str

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"


def encrypted_columns() -> list[EncryptedColumn]:
    """Every ``*_enc`` column of a table with a single-column primary key, in a stable order."""
    load_all_models()
    found = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        if len(table.primary_key.columns) != 1:
            continue
        for col in table.columns:
            if col.name.endswith("_enc"):
                found.append(EncryptedColumn(table, col.name))
    return found


def _key_prefix(column: ColumnElement, dialect: str) -> ColumnElement:
    if dialect == "postgresql":
        return func.split_part(column, "$", 1)
    return func.substr(column, 1, func.instr(column, "$") - 1)


def value_counts(session: Session) -> Counter:
    """How many stored values each key id seals, over all encrypted columns."""
    dialect = session.get_bind().dialect.name
    counts: Counter = Counter()
    for ec in encrypted_columns():
        col = ec.table.c[ec.column]
        kid = _key_prefix(col, dialect)
        for key_id, n in session.execute(select(kid, func.count()).where(col.is_not(None)).group_by(kid)):
            counts[key_id] += n
    return counts


def key_status(session: Session) -> list[dict]:
    counts = value_counts(session)
    keys = session.scalars(select(DataKey)).all()
    rows = [{"key_id": k.key_id, "status": k.status, "values": counts.get(k.key_id, 0)} for k in keys]
    known = {k.key_id for k in keys}
    # Values naming a key that no longer exists would be unreadable: show them, never hide them.
    rows += [{"key_id": kid, "status": "missing", "values": n} for kid, n in counts.items() if kid not in known]
    return sorted(rows, key=lambda r: int(r["key_id"][1:]) if r["key_id"][1:].isdigit() else 0)


@dataclass
class RotationReport:
    new_key_id: str
    resealed: dict[str, int]
    skipped_concurrent: int
    passes: int

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


ProgressFn = Callable[[str, int, int], None]  # (column, rows done, rows total)


def _stale_count(session: Session, ec: EncryptedColumn, active: str) -> int:
    col = ec.table.c[ec.column]
    return session.scalar(
        select(func.count()).select_from(ec.table).where(col.is_not(None), ~col.startswith(f"{active}$"))
    ) or 0


def reseal_column(
    engine: Engine, ec: EncryptedColumn, *, batch_size: int = 2000, progress: ProgressFn | None = None
) -> tuple[int, int]:
    """Re-seal every value of one column not under the active key; returns (resealed, skipped)."""
    table, col = ec.table, ec.table.c[ec.column]
    pk = next(iter(table.primary_key.columns))
    with Session(engine) as s:
        cipher = get_cipher(s, refresh=True)
        active = cipher.active_key_id
        total = _stale_count(s, ec, active)
    done = skipped = 0
    last = None
    while True:
        with engine.begin() as conn:
            stmt = select(pk, col).where(col.is_not(None), ~col.startswith(f"{active}$")).order_by(pk).limit(batch_size)
            if last is not None:
                stmt = stmt.where(pk > last)
            rows = conn.execute(stmt).all()
            if not rows:
                break
            params = []
            for key, old in rows:
                params.append({"_pk": key, "_old": old, "_new": cipher.encrypt(cipher.decrypt(old))})
            result = conn.execute(
                update(table)
                .where(and_(pk == bindparam("_pk"), col == bindparam("_old")))
                .values({ec.column: bindparam("_new")}),
                params,
            )
            changed = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)
            skipped += len(rows) - changed
            done += changed
            last = rows[-1][0]
        if progress:
            progress(ec.name, done, max(total, done))
    return done, skipped


def rotate(engine: Engine, *, batch_size: int = 2000, progress: ProgressFn | None = None,
           max_passes: int = 3) -> RotationReport:
    """Create a new data key and re-seal every encrypted value under it, batch by batch."""
    with Session(engine) as s:
        get_cipher(s)  # make sure a first key exists before adding the next
        s.commit()
        new_key = create_data_key(s)
        append(s, "keys.rotated", f"data_key:{new_key}", {"new_key_id": new_key})
        s.commit()
    resealed: Counter = Counter()
    skipped = 0
    passes = 0
    while passes < max_passes:
        passes += 1
        pass_skipped = 0
        for ec in encrypted_columns():
            n, sk = reseal_column(engine, ec, batch_size=batch_size, progress=progress)
            resealed[ec.name] += n
            pass_skipped += sk
        skipped += pass_skipped
        with Session(engine) as s:
            left = sum(_stale_count(s, ec, new_key) for ec in encrypted_columns())
        if left == 0:
            break
    return RotationReport(new_key_id=new_key, resealed=dict(resealed), skipped_concurrent=skipped, passes=passes)


def retire(session: Session) -> list[str]:
    """Delete retired keys that seal no value any more (each deletion on the ledger); refuses
    nothing silently."""
    counts = value_counts(session)
    dropped = []
    for key in session.scalars(select(DataKey).where(DataKey.status == "retired")).all():
        if counts.get(key.key_id, 0) == 0:
            session.delete(key)
            dropped.append(key.key_id)
    for key_id in dropped:
        append(session, "keys.retired", f"data_key:{key_id}", {"key_id": key_id})
    session.flush()
    return dropped


def retire_key(session: Session, key_id: str) -> None:
    """Delete one retired key; refused while any value is still sealed under it."""
    key = session.get(DataKey, key_id)
    if key is None:
        raise Conflict(f"no data key {key_id!r}")
    if key.status == "active":
        raise Conflict(f"{key_id} is the active key; rotate first")
    n = value_counts(session).get(key_id, 0)
    if n:
        raise Conflict(f"{key_id} still seals {n} values; run `brokercare keys rotate` to completion first")
    session.delete(key)
    session.flush()
