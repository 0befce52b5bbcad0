"""Account risk control: batch scoring of historical events (vectorised) against the per-event
loop through the login-time path, and the login-time decision's latency on a database with history.

    POLARS_MAX_THREADS=1 .venv/bin/python bench/bench_risk.py [--customers 1000] [--loop 3000]
        [--logins 1000] [--postgres URL]

1. A labelled scenario file (``brokercare risk scenarios``) is scored by ``batch.score_frame``
   (events/s, one core: Polars is held to one thread, NumPy is single-threaded here). The
   baseline in the same run scores the first ``--loop`` events one at a time through
   ``service.assess`` (baseline read, window counts, decision, evidence, ledger) on SQLite.
2. Login decisions: a database holds the scenario's events as evidence (bulk-inserted) and the
   baselines of ``--customers`` customers built by replaying their first weeks through
   ``service.assess``; then ``--logins`` logins are decided and committed one by one, each timed.
   Run on SQLite and (if reachable) PostgreSQL.
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

# One core for Polars, and a data dir of our own, before anything reads them.
os.environ.setdefault("POLARS_MAX_THREADS", "1")
TMP = tempfile.mkdtemp(prefix="bench-risk-")
os.environ["BROKERCARE_DATA_DIR"] = TMP
os.environ.setdefault("BROKERCARE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())

import polars as pl  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from brokercare.core.database import Base, make_engine, set_engine  # noqa: E402
from brokercare.core.domains import load_all_models  # noqa: E402
from brokercare.risk import batch, scenarios, service  # noqa: E402
from brokercare.risk.models import RiskEvent  # noqa: E402
from brokercare.risk.schemas import RiskEventIn  # noqa: E402


def _events(frame: pl.DataFrame) -> list:
    cols = ["event_id", "type", "occurred_at", "customer_id", "ip", "device_id", "amount", "card",
            "symbol", "side", "quantity"]
    return [RiskEventIn(**{k: v for k, v in row.items() if v is not None})
            for row in frame.select(cols).iter_rows(named=True)]


def batch_vs_loop(frame: pl.DataFrame, loop: int, url: str) -> dict:
    batch.score_frame(frame.head(20_000))  # load the IP database and warm the code paths
    started = time.perf_counter()
    batch.score_frame(frame)
    vectorised = len(frame) / (time.perf_counter() - started)

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    set_engine(engine)
    events = _events(frame.head(loop))
    with Session(engine) as session:
        started = time.perf_counter()
        for e in events:
            service.assess(session, e)
        session.commit()
        looped = len(events) / (time.perf_counter() - started)
    engine.dispose()
    return {"events": len(frame), "batch_per_s": vectorised, "loop_events": len(events), "loop_per_s": looped}


def _evidence_rows(frame: pl.DataFrame) -> list[dict]:
    out = frame.select(
        "event_id", "type", "occurred_at", "customer_id", "ip", "device_id", "amount", "card", "symbol", "side",
        "quantity").to_dicts()
    for r in out:
        r.update(score=0, action="allow", signals=[], reasons=[], evidence={}, rules_version="bench",
                 event_id="h-" + r["event_id"], created_at=r["occurred_at"])
    return out


def login_latency(frame: pl.DataFrame, url: str, customers: int, logins: int) -> dict:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    set_engine(engine)
    history = frame.filter(pl.col("phase") == "history")
    with engine.begin() as conn:  # months of evidence for the window counts' indexes to work on
        rows = _evidence_rows(history)
        for i in range(0, len(rows), 20_000):
            conn.execute(insert(RiskEvent), rows[i : i + 20_000])
    mine = history.filter(pl.col("customer_id") <= customers, pl.col("type") != "order").tail(8_000)
    with Session(engine) as session:
        for e in _events(mine):
            service.assess(session, e)
        session.commit()
    logins_frame = frame.filter((pl.col("phase") == "eval") & (pl.col("type") == "login")
                                & (pl.col("customer_id") <= customers)).head(logins)
    times = []
    with Session(engine) as session:
        for e in _events(logins_frame):
            started = time.perf_counter()
            service.assess_login(session, customer_id=e.customer_id, ip=e.ip, device_id=e.device_id,
                                 at=e.occurred_at, event_id=e.event_id)
            session.commit()
            times.append((time.perf_counter() - started) * 1000)
    with engine.connect() as conn:
        n_events = conn.execute(text("SELECT count(*) FROM risk_events")).scalar()
    engine.dispose()
    times.sort()
    return {"risk_events_in_db": n_events, "logins": len(times), "p50_ms": statistics.median(times),
            "p99_ms": times[int(0.99 * (len(times) - 1))], "max_ms": times[-1]}


def _pg_url(base: str) -> tuple[str, str] | None:
    schema = f"bench_risk_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    except Exception as exc:  # no server: skip that backend
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        return None
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--loop", type=int, default=3000)
    parser.add_argument("--logins", type=int, default=1000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    tmp = TMP
    load_all_models()
    frame = scenarios.generate(args.customers, args.seed)
    print(f"scenario: {len(frame):,} events, {args.customers:,} customers, seed {args.seed}")
    r = batch_vs_loop(frame, args.loop, f"sqlite:///{tmp}/loop.db")
    print(f"batch scoring: {r['batch_per_s']:,.0f} events/s over {r['events']:,} events (one core); "
          f"per-event loop through service.assess: {r['loop_per_s']:,.0f} events/s over {r['loop_events']:,} "
          f"→ {r['batch_per_s'] / r['loop_per_s']:,.0f}x")
    backends = [("sqlite", f"sqlite:///{tmp}/login.db", None)]
    pg = _pg_url(args.postgres)
    if pg:
        backends.append(("postgresql", pg[0], pg[1]))
    for name, url, schema in backends:
        try:
            lat = login_latency(frame, url, min(args.customers, 300), args.logins)
        finally:
            if schema:
                admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()
        print(f"login decision on {name} ({lat['risk_events_in_db']:,} events in the database): "
              f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms "
              f"over {lat['logins']:,} logins (assess + commit, ledger append included)")


if __name__ == "__main__":
    main()
