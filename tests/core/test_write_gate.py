"""The SQLite write gate queues hot-path writers in the kernel instead of SQLite's sleep-and-retry."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from brokercare.core.database import make_engine, write_gate


def test_second_writer_waits_for_the_first_and_enters_when_it_leaves(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    order: list[str] = []
    first_inside = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with Session(engine) as s, write_gate(s):
            order.append("first in")
            first_inside.set()
            release_first.wait(10)
            order.append("first out")

    def second() -> None:
        first_inside.wait(10)
        with Session(engine) as s, write_gate(s):
            order.append("second in")

    a, b = threading.Thread(target=first), threading.Thread(target=second)
    a.start()
    b.start()
    first_inside.wait(10)
    b.join(0.3)  # the second writer is still queued behind the first
    assert b.is_alive()
    assert order == ["first in"]
    release_first.set()
    a.join(10)
    b.join(10)
    assert order == ["first in", "first out", "second in"]
    assert (tmp_path / "gate.db.write-gate").exists()
    engine.dispose()


def test_gate_is_a_no_op_without_a_database_file(session):
    # PostgreSQL queues writers on its row locks; an in-memory SQLite has no other process.
    with write_gate(session):
        pass
