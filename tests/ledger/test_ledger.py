"""The ledger on both databases: gap-free appends, the database refusing changes, proofs, and
``verify`` naming the first bad entry after each kind of tampering behind the database's back."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from brokercare.cli import app
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.ledger import merkle, service
from brokercare.ledger.models import LedgerEntry
from brokercare.ledger.signing import get_signer, verify_signature

TICKET_STATES = ["open", "in_progress", "waiting_on_customer", "resolved", "closed"]


def fill(session: Session, n: int) -> None:
    """A realistic mix: ticket state changes, routing decisions, PII reads."""
    for i in range(n):
        if i % 3 == 0:
            service.append(session, "ticket.state_changed", f"ticket:{1000 + i // 3}",
                           {"from": TICKET_STATES[i % 4], "to": TICKET_STATES[i % 4 + 1], "by_user_id": 7})
        elif i % 3 == 1:
            service.append(session, "routing.decision", f"conversation:{500 + i}",
                           {"outcome": "handoff", "queue": "margin", "intent": "margin_call", "emotion": "anxious"})
        else:
            service.append(session, "pii.read", f"customer:{42 + i}",
                           {"user_id": 3, "role": "compliance", "fields": ["id_number"],
                            "value_hmacs": {"id_number": hashlib.sha256(str(i).encode()).hexdigest()}})
    session.commit()


def test_appends_are_gap_free_and_verify(session, monkeypatch):
    monkeypatch.setattr(service, "CHECKPOINT_EVERY", 8)
    fill(session, 20)
    ids = [e.id for e in session.query(LedgerEntry).order_by(LedgerEntry.id)]
    assert ids == list(range(20))
    report = service.verify(session)
    assert report.ok, report
    assert report.size == 20 and report.checkpoints == 2  # sizes 8 and 16
    entry = service.get_entry(session, 4)
    assert json.loads(entry.body)["data"]["queue"] == "margin"


def test_rolled_back_append_leaves_no_gap(session):
    fill(session, 3)
    service.append(session, "ticket.state_changed", "ticket:9", {"from": "open", "to": "closed"})
    session.rollback()
    e = service.append(session, "ticket.state_changed", "ticket:9", {"from": "open", "to": "resolved"})
    session.commit()
    assert e.id == 3
    assert service.verify(session).ok


def test_batch_append_is_the_same_ledger_as_one_by_one(session, monkeypatch):
    """A batch of routed messages appends under one head lock: every entry still gets its own
    leaf and signed tree head, checkpoints fall where they would, and verify holds."""
    monkeypatch.setattr(service, "CHECKPOINT_EVERY", 4)
    fill(session, 3)
    batch = [("routing.decision", f"message:{900 + i}", {"outcome": "ai_answer", "intent": "open_account"})
             for i in range(6)]
    written = service.append_many(session, batch)
    session.commit()
    assert [e.id for e in written] == [3, 4, 5, 6, 7, 8]
    assert service.append_many(session, []) == []
    report = service.verify(session)
    assert report.ok, report
    assert report.size == 9 and report.checkpoints == 2  # sizes 4 and 8, inside the batch
    assert json.loads(service.get_entry(session, 8).body)["subject"] == "message:905"
    assert written[-1].tree_root == service.get_entry(session, 8).tree_root


def test_batch_with_personal_data_writes_nothing(session):
    fill(session, 2)
    with pytest.raises(ValidationFailed):
        service.append_many(session, [
            ("routing.decision", "message:1", {"outcome": "ai_answer"}),
            ("routing.decision", "message:2", {"note": "客户手机 13912345678"}),
        ])
    session.commit()
    assert service.verify(session).size == 2


def test_database_refuses_update_and_delete(session, engine):
    fill(session, 3)
    for statement in ("UPDATE ledger_entries SET subject = 'ticket:1' WHERE id = 1",
                      "DELETE FROM ledger_entries WHERE id = 2",
                      "UPDATE ledger_checkpoints SET root_hash = 'x'"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            if "checkpoints" in statement:
                service.checkpoint(session)
                session.commit()
            conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE ledger_entries"))
    assert service.size(session) == 3 and service.verify(session).ok


def test_personal_data_is_refused(session):
    with pytest.raises(ValidationFailed, match="id and a hash"):
        service.append(session, "pii.read", "customer:1", {"id_number": "110105199003071234"})
    with pytest.raises(ValidationFailed, match=r"^data\.summary looks like an ID number"):
        service.append(session, "ticket.note_added", "ticket:1", {"summary": "客户身份证 11010519900307123X 已核实"})
    with pytest.raises(ValidationFailed, match="mobile"):
        service.append(session, "ticket.note_added", "ticket:1", {"summary": "请回电 13812345678"})
    with pytest.raises(ValidationFailed, match=r"^data\.cards\[0\] looks like a bank card"):
        service.append(session, "ticket.note_added", "ticket:1", {"cards": ["6222021234567891234"]})
    with pytest.raises(ValidationFailed, match=r"^data\.customer\.phone: personal data"):
        service.append(session, "ticket.note_added", "ticket:1", {"customer": {"id": 7, "phone": "138"}})
    with pytest.raises(ValidationFailed, match="dotted"):
        service.append(session, "Ticket", "ticket:1", {})
    # Hashes are fine even where a run of hex digits happens to look like a phone number.
    ok = service.append(session, "pii.read", "customer:1", {"value_hmac": "ab13812345678cd" + "0" * 49})
    session.commit()
    assert ok.id == 0 and service.size(session) == 1


def test_proofs_verify_for_every_size_up_to_70(session):
    fill(session, 70)
    heads = {n: bytes.fromhex(service.inclusion(session, 0, n)["root_hash"]) for n in range(1, 71)}
    for n in range(1, 71):
        for i in range(0, n, max(1, n // 7)):
            p = service.inclusion(session, i, n)
            assert merkle.verify_inclusion(i, n, bytes.fromhex(p["leaf_hash"]),
                                           [bytes.fromhex(h) for h in p["audit_path"]], heads[n])
        for m in range(1, n + 1, max(1, n // 9)):
            c = service.consistency(session, m, n)
            assert merkle.verify_consistency(m, n, heads[m], heads[n], [bytes.fromhex(h) for h in c["proof"]])
    with pytest.raises(ValidationFailed):
        service.inclusion(session, 70, 70)
    with pytest.raises(ValidationFailed):
        service.consistency(session, 10, 71)


def test_concurrent_appends_stay_sequential(engine):
    errors: list[Exception] = []

    def worker(w: int) -> None:
        try:
            for i in range(10):
                with Session(engine) as s:
                    service.append(s, "routing.decision", f"conversation:{w}-{i}", {"outcome": "ai_answer"})
                    s.commit()
        except Exception as exc:  # any failure of a concurrent writer is recorded
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with Session(engine) as s:
        assert [e.id for e in s.query(LedgerEntry).order_by(LedgerEntry.id)] == list(range(40))
        assert service.verify(s).ok


# --- tampering behind the database's back -------------------------------------------------------

class Attacker:
    """Writes to the database directly, disabling the guards first, as an intruder would."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"

    def run(self, *statements: tuple[str, tuple]) -> None:
        if self.sqlite:
            con = sqlite3.connect(self.engine.url.database)
            con.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update")
            con.execute("DROP TRIGGER IF EXISTS ledger_entries_no_delete")
            for sql, params in statements:
                con.execute(sql, params)
            con.commit()
            con.close()
            return
        raw = self.engine.raw_connection()  # the superuser, search_path = the test schema
        try:
            cur = raw.cursor()
            cur.execute("ALTER TABLE ledger_entries DISABLE TRIGGER USER")
            for sql, params in statements:
                cur.execute(sql.replace("?", "%s"), params)
            cur.execute("ALTER TABLE ledger_entries ENABLE TRIGGER USER")
            raw.commit()
        finally:
            raw.close()

    def row(self, index: int) -> dict:
        with self.engine.connect() as conn:
            return dict(conn.execute(text("SELECT * FROM ledger_entries WHERE id = :i"), {"i": index}).mappings().one())


def _verify(engine: Engine) -> service.VerifyReport:
    """The default verification, checked against the every-signature one: same verdict, same entry."""
    with Session(engine) as s:
        fast, full = service.verify(s), service.verify(s, full=True)
    assert (fast.ok, fast.first_bad_index, fast.problem) == (full.ok, full.first_bad_index, full.problem)
    return fast


@pytest.fixture
def ledger(engine, session, monkeypatch):
    monkeypatch.setattr(service, "CHECKPOINT_EVERY", 5)
    fill(session, 12)
    session.close()
    assert _verify(engine).ok
    return Attacker(engine)


def test_edited_row_is_named(ledger, engine):
    body = ledger.row(4)["body"].replace('"queue":"margin"', '"queue":"funds"')
    ledger.run(("UPDATE ledger_entries SET body = ? WHERE id = 4", (body,)))
    report = _verify(engine)
    assert not report.ok and report.first_bad_index == 4 and report.problem == "edited"


def test_edited_row_with_recomputed_hashes_is_named(ledger, engine):
    """The intruder recomputes the leaf hash and every later tree head, but cannot sign them."""
    rows = [ledger.row(i) for i in range(12)]
    edited = rows[7]["body"].replace('"outcome":"handoff"', '"outcome":"ai_answer"')
    assert edited != rows[7]["body"]
    rows[7]["body"] = edited
    compact = merkle.CompactRange()
    updates = []
    for i, r in enumerate(rows):
        leaf = merkle.leaf_hash(r["body"].encode())
        compact.append(leaf)
        if i >= 7:
            updates.append(("UPDATE ledger_entries SET body = ?, leaf_hash = ?, tree_root = ? WHERE id = ?",
                            (r["body"], leaf.hex(), compact.root().hex(), i)))
    ledger.run(*updates)
    report = _verify(engine)
    assert not report.ok and report.first_bad_index == 7 and report.problem == "edited"


def test_deleted_row_is_named(ledger, engine):
    ledger.run(("DELETE FROM ledger_entries WHERE id = ?", (6,)))
    report = _verify(engine)
    assert not report.ok and report.first_bad_index == 6 and report.problem == "deleted"


def test_deleted_and_renumbered_rows_are_named(ledger, engine):
    ledger.run(("DELETE FROM ledger_entries WHERE id = ?", (3,)),
               ("UPDATE ledger_entries SET id = -id WHERE id > ?", (3,)),
               ("UPDATE ledger_entries SET id = -id - 1 WHERE id < ?", (0,)))
    report = _verify(engine)
    assert not report.ok and report.first_bad_index == 3 and report.problem == "deleted"


def test_truncated_tail_is_named(ledger, engine):
    ledger.run(("DELETE FROM ledger_entries WHERE id >= ?", (10,)))
    report = _verify(engine)
    assert not report.ok and report.first_bad_index == 10 and report.problem == "truncated"


def test_inserted_row_is_named(ledger, engine):
    """A backdated routing decision slipped in at 5, later rows renumbered, hashes made to fit."""
    template = ledger.row(5)
    body = json.dumps({"at": json.loads(template["body"])["at"], "data": {"outcome": "ai_answer"}, "index": 5,
                       "kind": "routing.decision", "subject": "conversation:999"},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    ledger.run(
        ("UPDATE ledger_entries SET id = -id WHERE id >= ?", (5,)),
        ("UPDATE ledger_entries SET id = -id + 1 WHERE id < ?", (0,)),
        ("INSERT INTO ledger_entries (id, kind, subject, body, leaf_hash, tree_root, key_id, signature, created_at) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
         (5, "routing.decision", "conversation:999", body, merkle.leaf_hash(body.encode()).hex(),
          template["tree_root"], template["key_id"], template["signature"], template["created_at"])),
    )
    report = _verify(engine)
    assert not report.ok and report.first_bad_index == 5 and report.problem == "inserted"


def test_reordered_rows_are_named(ledger, engine):
    a, b = ledger.row(3), ledger.row(8)
    cols = ("kind", "subject", "body", "leaf_hash", "tree_root", "signature")
    sql = "UPDATE ledger_entries SET " + ", ".join(f"{c} = ?" for c in cols) + " WHERE id = ?"
    ledger.run((sql, (*[b[c] for c in cols], 3)), (sql, (*[a[c] for c in cols], 8)))
    report = _verify(engine)
    assert not report.ok and report.first_bad_index == 3 and report.problem == "reordered"


def test_cli_verify_json_exit_codes(ledger, engine):
    runner = CliRunner()
    ok = runner.invoke(app, ["ledger", "verify", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    ledger.run(("DELETE FROM ledger_entries WHERE id = ?", (2,)))
    bad = runner.invoke(app, ["ledger", "verify", "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["first_bad_index"] == 2
    human = runner.invoke(app, ["ledger", "verify"])
    assert human.exit_code == 1 and "first bad entry 2" in human.output


def test_signed_checkpoint_and_unknown_entry(session):
    fill(session, 6)
    cp = service.checkpoint(session)
    session.commit()
    assert cp.tree_size == 6
    d = service.checkpoint_dict(cp)
    assert verify_signature(get_signer().public_raw, d["message"].encode(), d["signature"])
    assert not verify_signature(get_signer().public_raw, d["message"].replace("\n6\n", "\n7\n").encode(), d["signature"])
    with pytest.raises(NotFound):
        service.get_entry(session, 99)
    assert len(base64.b64decode(d["signature"])) == 64
    assert create_engine  # imported for attackers elsewhere


def test_proofs_past_the_cached_subtrees(session):
    """Beyond 256 entries proofs come from cached subtree hashes; they must match a full recompute."""
    for i in range(600):
        service.append(session, "routing.decision", f"conversation:{i}", {"outcome": "ai_answer", "n": i})
    session.commit()
    leaves = [bytes.fromhex(h) for h in session.scalars(
        text("SELECT leaf_hash FROM ledger_entries ORDER BY id"))]
    for size, index in ((600, 0), (600, 599), (513, 300), (600, 257), (257, 256), (512, 100)):
        first = service.inclusion(session, index, size)
        again = service.inclusion(session, index, size)  # from the warm cache
        assert first["audit_path"] == again["audit_path"] == [p.hex() for p in merkle.inclusion_proof(index, leaves[:size])]
        assert merkle.verify_inclusion(index, size, leaves[index], [bytes.fromhex(h) for h in first["audit_path"]],
                                       bytes.fromhex(first["root_hash"]))
    for first_size, second_size in ((256, 600), (300, 600), (1, 513), (512, 513)):
        c = service.consistency(session, first_size, second_size)
        assert c["proof"] == [p.hex() for p in merkle.consistency_proof(first_size, leaves[:second_size])]
        assert merkle.verify_consistency(first_size, second_size, bytes.fromhex(c["first_root"]),
                                         bytes.fromhex(c["second_root"]), [bytes.fromhex(h) for h in c["proof"]])
