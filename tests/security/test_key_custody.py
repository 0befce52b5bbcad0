"""Keys apart from the data, and a witness that catches a history re-signed with a stolen key."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from brokercare.cli import app
from brokercare.core import keys
from brokercare.core.database import make_engine
from brokercare.core.settings import get_settings, reset_settings
from brokercare.ledger import service as ledger
from brokercare.ledger import signing
from brokercare.ledger import witness as witnesses
from brokercare.security.auth import secret_key
from brokercare.security.crypto import load_master_key


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def keys_from_files(monkeypatch, tmp_path):
    """No key in the environment: every key comes from its file."""
    for env in ("BROKERCARE_MASTER_KEY", "BROKERCARE_SECRET_KEY", "BROKERCARE_LEDGER_SIGNING_KEY"):
        monkeypatch.delenv(env, raising=False)
    reset_settings()
    signing._signers.clear()
    yield tmp_path / "data"
    signing._signers.clear()


def test_keys_are_created_0600_outside_the_data_dir(keys_from_files):
    data = keys_from_files
    master, jwt_secret = load_master_key(), secret_key()
    signer = signing.get_signer()
    folder = keys.key_dir()
    assert data not in folder.parents and folder != data
    for name in ("master.key", "jwt.secret", "ledger_ed25519.key"):
        assert _mode(folder / name) == 0o600, name
        assert not (data / name).exists()
    assert _mode(folder) == 0o700
    assert load_master_key() == master and secret_key() == jwt_secret  # stable across calls
    assert signing.get_signer().public_raw == signer.public_raw


def test_a_key_dir_inside_the_data_dir_is_refused(keys_from_files, monkeypatch):
    monkeypatch.setenv("BROKERCARE_KEY_DIR", str(keys_from_files / "keys"))
    reset_settings()
    with pytest.raises(ValueError, match="outside the data directory"):
        load_master_key()


def test_an_old_install_s_key_file_is_moved_out_of_the_data_dir(keys_from_files):
    data = keys_from_files
    data.mkdir(parents=True)
    (data / "master.key").write_bytes(b"bWFzdGVyLWtleS1vZi1hbi1vbGQtaW5zdGFsbC0xMjM=")
    os.chmod(data / "master.key", 0o644)
    assert load_master_key() == b"master-key-of-an-old-install-123"
    assert not (data / "master.key").exists()
    assert _mode(keys.key_dir() / "master.key") == 0o600


def test_the_sqlite_database_is_created_0600(tmp_path):
    path = tmp_path / "data" / "brokercare.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert _mode(path) == 0o600
    for extra in (f"{path}-wal", f"{path}-shm"):
        if os.path.exists(extra):
            assert _mode(extra) & 0o077 == 0
    engine.dispose()


def test_a_world_readable_database_is_tightened(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600


# --- the witness ------------------------------------------------------------------------------

def _history(session: Session, n: int, *, queue: str = "margin") -> None:
    for i in range(n):
        ledger.append(session, "routing.decision", f"conversation:{700 + i}",
                      {"outcome": "handoff", "queue": queue if i == 3 else "margin", "intent": "margin_call"})
    session.commit()


def _rewrite_with_the_stolen_key(engine: Engine, session: Session, monkeypatch) -> None:
    """The intruder holds the database and the signing key: they empty the ledger behind its
    guards and append an edited history, signed by the key (and tell no witness)."""
    session.close()
    if engine.dialect.name == "sqlite":
        con = sqlite3.connect(engine.url.database)
        for table in ("ledger_entries", "ledger_checkpoints"):
            con.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            con.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            con.execute(f"DELETE FROM {table}")
        con.execute("UPDATE ledger_head SET size = 0, compact_range = ''")
        con.commit()
        con.close()
    else:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            for table in ("ledger_entries", "ledger_checkpoints"):
                cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                cur.execute(f"DELETE FROM {table}")
                cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            cur.execute("UPDATE ledger_head SET size = 0, compact_range = ''")
            raw.commit()
        finally:
            raw.close()
    monkeypatch.delenv("BROKERCARE_LEDGER_WITNESS")
    reset_settings()
    with Session(engine) as s:
        _history(s, 12, queue="funds")  # entry 3 now says the customer was sent to funds
        ledger.checkpoint(s)
        s.commit()


def test_a_re_signed_edited_history_verifies_alone_but_not_against_the_witness(
        engine, session, monkeypatch, tmp_path):
    where = tmp_path / "witness" / "ledger-heads.jsonl"
    monkeypatch.setenv("BROKERCARE_LEDGER_WITNESS", str(where))
    monkeypatch.setattr(ledger, "CHECKPOINT_EVERY", 5)
    reset_settings()
    _history(session, 12)
    ledger.checkpoint(session)
    session.commit()
    heads = [json.loads(line) for line in where.read_text().splitlines()]
    assert [h["tree_size"] for h in heads] == [5, 10, 12]
    assert witnesses.verify_against(session, str(where)).ok

    _rewrite_with_the_stolen_key(engine, session, monkeypatch)
    with Session(engine) as s:
        assert ledger.verify(s).ok  # the forgery holds up on its own: same key, consistent hashes
        seen = witnesses.verify_against(s, str(where))
    assert not seen.ok and seen.first_bad_size == 5 and "rewritten" in seen.issues[0]

    result = CliRunner().invoke(app, ["ledger", "verify", "--json", "--witness-at", str(where)])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["witness"]["first_bad_size"] == 5


class _HttpWitness:
    """A witness service on a loopback port: POST a head, GET them all."""

    def __init__(self) -> None:
        heads: list[dict] = []
        self.heads = heads

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                heads.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(201)
                self.end_headers()

            def do_GET(self) -> None:
                body = json.dumps(heads).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/heads"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_an_http_witness_gets_heads_after_commit_only_and_refuses_a_forged_record(engine, session, monkeypatch):
    http = _HttpWitness()
    try:
        monkeypatch.setenv("BROKERCARE_LEDGER_WITNESS", http.url)
        reset_settings()
        ledger.append(session, "auth.locked", "user:7", {"user_id": 7, "after_failures": 5})
        ledger.checkpoint(session)
        session.rollback()
        assert http.heads == []  # rolled back: nothing witnessed
        _history(session, 4)
        ledger.checkpoint(session)
        session.commit()
        assert [h["tree_size"] for h in http.heads] == [4]
        assert get_settings().ledger_witness == http.url
        result = CliRunner().invoke(app, ["ledger", "verify", "--witness"])
        assert result.exit_code == 0 and "Witness agrees on 1" in result.output, result.output
        http.heads.append({**http.heads[0], "tree_size": 40})  # a forged record: not signed so
        assert not witnesses.verify_against(session).ok
    finally:
        http.server.shutdown()
