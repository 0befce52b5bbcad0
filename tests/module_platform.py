"""A platform shared by a module's tests: its own data dir, master key and migrated SQLite file,
with the environment put back afterwards (the function-scoped settings fixture cannot serve a
module-scoped brokerage)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

KEYS = ("BROKERCARE_DATA_DIR", "BROKERCARE_MASTER_KEY", "BROKERCARE_DATABASE_URL")


@contextmanager
def migrated_sqlite(tmp_path_factory, name: str) -> Iterator[Engine]:
    from brokercare.core import migrate
    from brokercare.core.database import make_engine, set_engine
    from brokercare.core.settings import reset_settings
    from brokercare.security import crypto

    data = tmp_path_factory.mktemp(name)
    saved = {k: os.environ.get(k) for k in KEYS}
    os.environ["BROKERCARE_DATA_DIR"] = str(data)
    os.environ["BROKERCARE_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    os.environ["BROKERCARE_DATABASE_URL"] = f"sqlite:///{data / 'brokercare.db'}"
    reset_settings()
    crypto.forget_ciphers()
    engine = make_engine()
    with engine.begin() as conn:
        migrate.upgrade(conn)
    set_engine(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_settings()
