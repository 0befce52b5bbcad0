"""Engine, sessions and the declarative base shared by every domain's ``models.py``.

SQLite (the embedded default) runs in WAL mode so the API can read while a job writes;
PostgreSQL is used through psycopg 3. Money columns are ``Numeric``: PostgreSQL stores them
exactly; SQLite stores them as REAL and SQLAlchemy hands back ``Decimal`` rounded to the column's
scale, which is exact for any amount below 10^13 with two decimals.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

try:
    import fcntl
except ImportError:  # Windows: no gate, SQLite's busy handler alone
    fcntl = None

from sqlalchemy import (
    DateTime,
    Engine,
    MetaData,
    Numeric,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.util import identity_key
from sqlalchemy.types import TypeDecorator

from brokercare.core.settings import get_settings

warnings.filterwarnings("ignore", category=sa_exc.SAWarning, message=".*Decimal objects natively.*")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Timezone-aware timestamps on both backends (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def Money(precision: int = 18, scale: int = 2) -> Numeric:  # reads like a type
    return Numeric(precision, scale, asdecimal=True)


def Price() -> Numeric:
    return Numeric(14, 4, asdecimal=True)


def Ratio() -> Numeric:
    return Numeric(10, 6, asdecimal=True)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file readable by its owner only (0600; SQLite gives its -wal and -shm files
    the database file's mode), and tighten an older world-readable one."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.exists(name) and os.stat(name).st_mode & 0o077:
            os.chmod(name, 0o600)


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = url or get_settings().resolved_database_url()
    if is_sqlite(url):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        engine = create_engine(url, **kwargs)
    return engine


_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    global _engine, _session_factory
    if _engine is None:
        _engine = make_engine()
        _session_factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def set_engine(engine: Engine | None) -> None:
    """Install a specific engine for this process (tests, jobs pointed at another database)."""
    global _engine, _session_factory
    _engine = engine
    _session_factory = sessionmaker(engine, expire_on_commit=False) if engine is not None else None


def session_factory() -> sessionmaker[Session]:
    get_engine()
    assert _session_factory is not None
    return _session_factory


@contextmanager
def session_scope() -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_session() -> Iterator[Session]:
    """FastAPI dependency: a session per request, committed by the service when it writes."""
    session = session_factory()()
    try:
        yield session
    finally:
        session.close()


_gate_files = threading.local()


#: Key of the PostgreSQL advisory lock behind :func:`write_gate` ("BCWG" in ASCII).
WRITE_GATE_KEY = 0x42435747


def get_many(session: Session, model: type, ids) -> dict:
    """Rows of ``model`` by primary key: those already loaded in this session from its identity map,
    the rest in one read (``session.get`` for many keys). On the service hub's write path the
    same staff rows are looked up for every message of a batch; each lookup used to be a query
    under the write gate."""
    wanted = set(ids)
    found = {}
    for key in wanted:
        obj = session.identity_map.get(identity_key(model, key))
        if obj is not None and not inspect(obj).expired:
            found[key] = obj
    missing = wanted - found.keys()
    if missing:
        pk = inspect(model).primary_key[0]
        found.update({getattr(row, pk.key): row for row in session.scalars(select(model).where(pk.in_(missing)))})
    return found


@contextmanager
def write_gate(session: Session) -> Iterator[None]:
    """Queue this writer behind the other gated writers of the same database.

    SQLite lets one writer in at a time and makes the others poll: its busy handler sleeps 1, 2,
    5 … up to 100 ms between attempts, so under sustained concurrent writes (two server processes
    routing messages) a waiter can keep missing the free moments and wait seconds. An exclusive
    ``flock`` on a side file wakes the next waiter the moment the lock is released. SQLite's own
    locking still guards every writer, gated or not.

    On PostgreSQL the gate is a transaction-scoped advisory lock, held until the caller's commit
    or rollback: batches of routed messages lock threads, agents and the ledger head in an order
    that depends on their content, and two of them in different processes deadlocked (14 times in
    3,000 messages under load, each costing PostgreSQL's one-second deadlock timeout). Queued on
    one lock taken first, they cannot. Hot write paths take the gate around their short write
    transaction, after their reads.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(_PG_GATE, {"key": WRITE_GATE_KEY})
        yield
        return
    path = bind.url.database if bind.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or fcntl is None:
        yield
        return
    files = getattr(_gate_files, "files", None)
    if files is None:
        files = _gate_files.files = {}
    f = files.get(path)
    if f is None:  # one descriptor per thread: flock excludes other descriptors, threads included
        f = files[path] = open(f"{path}.write-gate", "a+b")  # noqa: SIM115 - kept open for the thread
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)


_PG_GATE = text("SELECT pg_advisory_xact_lock(:key)")


def money(value: Decimal | float | int | str) -> Decimal:
    """Round a value to fen (0.01 元), half-up as brokers' statements do."""
    from decimal import ROUND_HALF_UP

    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def utcnow() -> datetime:
    return datetime.now(UTC)
