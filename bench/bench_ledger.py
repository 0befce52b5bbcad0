"""Ledger throughput: appends (hash, tree head, Ed25519 signature, serialised on the head row)
against plain inserts of the same rows, full verification, and proof latency.

    .venv/bin/python bench/bench_ledger.py [--entries 5000] [--postgres URL]

Each backend runs in a fresh database (SQLite file in a temp dir; PostgreSQL in a fresh schema,
default the local test server, skipped if unreachable). The baseline inserts identical rows into a
plain table in one transaction per row, as the ledger appends do, so the ratio is the price of
tamper evidence per business transaction.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, text
from sqlalchemy.orm import Session


def _setup_env(tmp: str) -> None:
    os.environ["BROKERCARE_DATA_DIR"] = tmp
    os.environ.setdefault("BROKERCARE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())


def run(url: str, n: int, label: str, connect_args: dict | None = None) -> dict:
    from brokercare.core.database import Base, make_engine
    from brokercare.core.domains import load_all_models
    from brokercare.ledger import merkle, service

    load_all_models()
    engine = make_engine(url, connect_args=connect_args or {}) if connect_args else make_engine(url)
    Base.metadata.create_all(engine)
    plain = Table("bench_plain_rows", MetaData(), Column("id", Integer, primary_key=True),
                  Column("kind", String(48)), Column("subject", String(96)), Column("body", Text))
    plain.create(engine)

    data = [{"from": "open", "to": "in_progress", "by_user_id": 7 + i % 13, "queue": "margin"} for i in range(n)]

    t0 = time.perf_counter()
    with engine.connect() as conn:
        for i, d in enumerate(data):
            conn.execute(plain.insert().values(kind="ticket.state_changed", subject=f"ticket:{i}",
                                               body=service.canonical_json(d)))
            conn.commit()
    base_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for i, d in enumerate(data):
        with Session(engine) as s:
            service.append(s, "ticket.state_changed", f"ticket:{i}", d)
            s.commit()
    append_s = time.perf_counter() - t0

    with Session(engine) as s:
        t0 = time.perf_counter()
        report = service.verify(s)
        verify_s = time.perf_counter() - t0
        assert report.ok, report
        t0 = time.perf_counter()
        assert service.verify(s, full=True).ok
        verify_full_s = time.perf_counter() - t0

        t1 = time.perf_counter()
        service.inclusion(s, 0)
        cold_ms = (time.perf_counter() - t1) * 1000
        lat = []
        for k in range(20):
            idx = (k * 7919) % n
            t1 = time.perf_counter()
            p = service.inclusion(s, idx)
            lat.append(time.perf_counter() - t1)
            assert merkle.verify_inclusion(idx, n, bytes.fromhex(p["leaf_hash"]),
                                           [bytes.fromhex(h) for h in p["audit_path"]], bytes.fromhex(p["root_hash"]))
        t1 = time.perf_counter()
        service.consistency(s, n // 3, n)
        cons_s = time.perf_counter() - t1
    engine.dispose()
    return {
        "backend": label, "entries": n,
        "plain_insert_per_s": n / base_s, "append_per_s": n / append_s,
        "overhead_ratio": append_s / base_s,
        "verify_per_s": n / verify_s, "verify_s": verify_s,
        "verify_full_per_s": n / verify_full_s, "verify_full_s": verify_full_s,
        "inclusion_ms_p50": statistics.median(lat) * 1000, "inclusion_cold_ms": cold_ms, "consistency_ms": cons_s * 1000,
    }


def run_large(url: str, n: int) -> dict:
    """A large ledger built in 1,000-entry transactions: how verify and proofs scale."""
    from brokercare.core.database import Base, make_engine
    from brokercare.ledger import service

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        with Session(engine) as s:
            for i in range(start, min(n, start + 1000)):
                service.append(s, "routing.decision", f"conversation:{i}", {"outcome": "handoff", "queue": "funds"})
            s.commit()
    build_s = time.perf_counter() - t0
    with Session(engine) as s:
        t0 = time.perf_counter()
        assert service.verify(s).ok
        verify_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        service.inclusion(s, n // 2)
        cold = time.perf_counter() - t0
        lat = []
        for k in range(50):
            t1 = time.perf_counter()
            service.inclusion(s, (k * 104729) % n)
            lat.append(time.perf_counter() - t1)
    engine.dispose()
    return {"entries": n, "append_batched_per_s": n / build_s, "verify_per_s": n / verify_s,
            "verify_s": verify_s, "proof_cold_ms": cold * 1000, "proof_p50_ms": statistics.median(lat) * 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=5000)
    ap.add_argument("--large", type=int, default=100_000, help="Entries of the large SQLite ledger (0: skip).")
    ap.add_argument("--postgres", default=os.environ.get("BROKERCARE_TEST_PG_URL",
                                                         "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-ledger-")
    _setup_env(tmp)
    results = [run(f"sqlite:///{tmp}/ledger.db", args.entries, "sqlite")]

    schema = f"bench_ledger_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"PostgreSQL skipped: {exc.__class__.__name__}", file=sys.stderr)
    else:
        try:
            results.append(run(args.postgres, args.entries, "postgresql",
                               connect_args={"options": f"-csearch_path={schema}"}))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()

    large = run_large(f"sqlite:///{tmp}/large.db", args.large) if args.large else None

    for r in results:
        print(f"[{r['backend']}] {r['entries']:,} entries, one transaction each")
        print(f"  plain insert (baseline) {r['plain_insert_per_s']:10,.0f} rows/s")
        print(f"  ledger append           {r['append_per_s']:10,.0f} entries/s  "
              f"(x{r['overhead_ratio']:.2f} the baseline's time per row)")
        print(f"  verify (every hash and tree head; signatures at checkpoints and the tail) "
              f"{r['verify_per_s']:,.0f} entries/s ({r['verify_s']:.2f} s)")
        print(f"  verify --full (every signature too) {r['verify_full_per_s']:,.0f} entries/s "
              f"({r['verify_full_s']:.2f} s)")
        print(f"  inclusion proof: first (cold cache) {r['inclusion_cold_ms']:.1f} ms, then p50 {r['inclusion_ms_p50']:.1f} ms; "
              f"consistency proof {r['consistency_ms']:.1f} ms")
    if large:
        _print_large(large)



def _print_large(r: dict) -> None:
    print(f"[sqlite, large] {r['entries']:,} entries appended in 1,000-entry transactions at "
          f"{r['append_batched_per_s']:,.0f} entries/s")
    print(f"  verify {r['verify_per_s']:,.0f} entries/s ({r['verify_s']:.1f} s)")
    print(f"  inclusion proof: first (cold cache) {r['proof_cold_ms']:.0f} ms, then p50 {r['proof_p50_ms']:.1f} ms")


if __name__ == "__main__":
    main()
