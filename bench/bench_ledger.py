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
        "inclusion_ms_p50": statistics.median(lat) * 1000, "consistency_ms": cons_s * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=5000)
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
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL skipped: {exc.__class__.__name__}", file=sys.stderr)
    else:
        try:
            results.append(run(args.postgres, args.entries, "postgresql",
                               connect_args={"options": f"-csearch_path={schema}"}))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()

    for r in results:
        print(f"[{r['backend']}] {r['entries']:,} entries, one transaction each")
        print(f"  plain insert (baseline) {r['plain_insert_per_s']:10,.0f} rows/s")
        print(f"  ledger append           {r['append_per_s']:10,.0f} entries/s  "
              f"(x{r['overhead_ratio']:.2f} the baseline's time per row)")
        print(f"  verify (all hashes, tree heads, signatures) {r['verify_per_s']:,.0f} entries/s "
              f"({r['verify_s']:.2f} s)")
        print(f"  inclusion proof p50 {r['inclusion_ms_p50']:.1f} ms; consistency proof {r['consistency_ms']:.1f} ms")


if __name__ == "__main__":
    main()
