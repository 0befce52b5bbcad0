"""Shared fixtures: every database test runs on SQLite and on the real PostgreSQL server.

PostgreSQL: ``BROKERCARE_TEST_PG_URL`` (default: the local server, database ``test``); each test
gets a fresh schema, dropped afterwards. Redis: ``BROKERCARE_TEST_REDIS_URL`` (default local),
each test gets its own key prefix. In CI (``CI=true``) an unreachable server fails the test;
elsewhere it is skipped.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from brokercare.core import bus as bus_module
from brokercare.core.database import Base, make_engine, set_engine
from brokercare.core.domains import load_all_models
from brokercare.core.settings import reset_settings
from brokercare.security import crypto

PG_URL = os.environ.get("BROKERCARE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BROKERCARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"
RUN_ID = uuid.uuid4().hex[:8]
# Apps built in tests skip the start-up model warm-up; a test that needs the models loads them.
os.environ.setdefault("BROKERCARE_WARM_UP", "false")
# Other domains' suites log in as compliance and admin without an authenticator; the security
# suite switches step-up (TOTP) back on and tests it (tests/security/test_stepup.py).
os.environ.setdefault("BROKERCARE_STEP_UP", "false")

load_all_models()


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI=true: services are required)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch) -> Iterator[None]:
    """Each test has its own data dir and master key, and a clean in-process bus."""
    monkeypatch.setenv("BROKERCARE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BROKERCARE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("BROKERCARE_SECRET_KEY", "test-signing-secret-for-jwt-" + RUN_ID * 4)
    monkeypatch.delenv("BROKERCARE_DATABASE_URL", raising=False)
    monkeypatch.delenv("BROKERCARE_BUS_URL", raising=False)
    reset_settings()
    crypto.forget_ciphers()
    bus_module.set_bus(None)
    yield
    bus_module.set_bus(None)
    set_engine(None)
    reset_settings()
    crypto.forget_ciphers()


_pg_schema_counter = 0


def pg_engine_in_fresh_schema() -> tuple[Engine, str]:
    """A PostgreSQL engine whose search_path is a new, empty schema (caller drops it)."""
    global _pg_schema_counter
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    _pg_schema_counter += 1
    schema = f"bc_{RUN_ID}_{os.getpid()}_{_pg_schema_counter}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        _unavailable("PostgreSQL", exc)
    admin.dispose()
    # The search path travels in the URL, so worker processes that rebuild the engine from
    # ``engine.url`` (process pools, Dask) land in the same schema.
    sep = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{PG_URL}{sep}options=-csearch_path%3D{schema}", pool_size=5)
    return engine, schema


def drop_pg_schema(schema: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def empty_engine(backend, tmp_path, monkeypatch) -> Iterator[Engine]:
    """An engine on an empty database of the current backend (no tables)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        engine = make_engine(url)
        monkeypatch.setenv("BROKERCARE_DATABASE_URL", url)
        reset_settings()
        yield engine
        engine.dispose()
    else:
        engine, schema = pg_engine_in_fresh_schema()
        try:
            yield engine
        finally:
            engine.dispose()
            drop_pg_schema(schema)


@pytest.fixture
def engine(empty_engine) -> Engine:
    """An engine on a database with every domain's tables, installed as the process engine."""
    Base.metadata.create_all(empty_engine)
    set_engine(empty_engine)
    return empty_engine


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url) -> Iterator[str]:
    """A unique key prefix for this test; its keys are deleted afterwards."""
    import redis

    prefix = f"bctest:{RUN_ID}:{uuid.uuid4().hex[:6]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()
