"""Quote ingest: full-market snapshots into the quote store, beside a per-quote ORM baseline measured
in the same run, on SQLite and PostgreSQL; and through ``POST /api/v1/market/quotes`` over HTTP.

Run: nice -n 10 .venv/bin/python bench/bench_quotes.py [--symbols 5400] [--snapshots 20] [--pg URL]
     [--api-snapshots 10]
Each snapshot quotes every symbol (prices a random walk from lognormal levels, cumulative volumes
rising), 3 s apart, as a Level-1 gateway sends them. ``store.ingest`` is timed per snapshot in its
own transaction (read the stored quotes, upsert the latest quotes, upsert the minute bars); the
baseline does the same work one quote at a time through the ORM, as a first implementation would.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from brokercare.core.database import Base, make_engine, utcnow
from brokercare.core.domains import load_all_models
from brokercare.market import store
from brokercare.market.models import MinuteBar, Quote

START = datetime(2026, 6, 17, 1, 35, tzinfo=UTC)  # 09:35 Beijing


def universe(n: int) -> list[str]:
    sh = [f"{600000 + i:06d}.SH" for i in range(n // 2)]
    sz = [f"{i + 1:06d}.SZ" for i in range(n - len(sh))]
    return sh + sz


def snapshots(symbols: list[str], count: int, seed: int = 7) -> list[list[store.Tick]]:
    rng = np.random.default_rng(seed)
    level = np.round(rng.lognormal(2.7, 0.8, len(symbols)), 2)
    volume = np.zeros(len(symbols))
    out = []
    for k in range(count):
        level = np.round(level * np.exp(rng.normal(0, 0.002, len(symbols))), 2).clip(0.01)
        volume = volume + rng.integers(100, 50_000, len(symbols)) // 100 * 100
        t = START + timedelta(seconds=3 * k)
        out.append([store.Tick(s, t, float(p), float(v)) for s, p, v in zip(symbols, level, volume, strict=True)])
    return out


def time_store(engine, snaps: list[list[store.Tick]]) -> float:
    started = time.perf_counter()
    for ticks in snaps:
        with engine.begin() as conn:
            store.ingest(conn, ticks)
    return time.perf_counter() - started


def time_naive(engine, snaps: list[list[store.Tick]]) -> float:
    """One quote at a time: get the stored quote, compare, update it and its minute bar."""
    started = time.perf_counter()
    for ticks in snaps:
        with Session(engine) as s:
            for t in ticks:
                q = s.get(Quote, t.symbol)
                if q is not None and q.time >= t.time:
                    continue
                traded = t.volume - (q.volume if q is not None else 0.0)
                if q is None:
                    q = Quote(symbol=t.symbol, source="feed")
                    s.add(q)
                q.price, q.volume, q.time, q.received_at = t.price, t.volume, t.time, utcnow()
                end = store.bar_end(t.time)
                bar = s.get(MinuteBar, (t.symbol, end))
                if bar is None:
                    s.add(MinuteBar(symbol=t.symbol, time=end, minutes=1, open=t.price, high=t.price,
                                    low=t.price, close=t.price, volume=traded))
                else:
                    bar.high, bar.low = max(float(bar.high), t.price), min(float(bar.low), t.price)
                    bar.close, bar.volume = t.price, bar.volume + traded
                s.flush()
            s.commit()
    return time.perf_counter() - started


def fresh(url: str | None, folder: Path, name: str):
    if url is None:
        engine = make_engine(f"sqlite:///{folder / name}.db")
    else:
        schema = f"bench_quotes_{name}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        sep = "&" if "?" in url else "?"
        engine = make_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
    Base.metadata.create_all(engine, tables=[Quote.__table__, MinuteBar.__table__])
    return engine


def run(label: str, url: str | None, snaps, naive_snaps: int, folder: Path) -> None:
    n = sum(len(s) for s in snaps)
    fast = fresh(url, folder, "fast")
    elapsed = time_store(fast, snaps)
    slow = fresh(url, folder, "naive")
    base = time_naive(slow, snaps[:naive_snaps])
    nb = sum(len(s) for s in snaps[:naive_snaps])
    rate, base_rate = n / elapsed, nb / base
    print(f"| {label} | {len(snaps[0]):,} | {len(snaps)} | {rate:,.0f} | {elapsed / len(snaps) * 1000:,.0f} ms "
          f"| {base_rate:,.0f} | {rate / base_rate:.1f}x |")
    fast.dispose()
    slow.dispose()


def run_api(symbols_n: int, count: int, folder: Path) -> None:
    """POST /api/v1/market/quotes over HTTP to uvicorn on SQLite with the shipped instrument master:
    parse, store, publish, and the in-process evaluation of each snapshot (no accounts: the
    universe's windows, limits and temperature)."""
    import os
    import threading

    import httpx
    import uvicorn

    from brokercare.api import create_app
    from brokercare.core.database import set_engine
    from brokercare.market.service import load_instruments
    from brokercare.security.service import service_token

    url = f"sqlite:///{folder / 'api.db'}"
    os.environ["BROKERCARE_DATABASE_URL"] = url
    os.environ.setdefault("BROKERCARE_SECRET_KEY", "bench-quotes-secret-" + "x" * 32)
    os.environ["BROKERCARE_DATA_DIR"] = str(folder / "data")
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    set_engine(engine)
    load_instruments(engine)
    with Session(engine) as s:
        token = service_token(s, "market_feed")
        listed = [sym for (sym,) in s.execute(text(
            "SELECT symbol FROM instruments WHERE kind = 'stock' ORDER BY symbol"))][:symbols_n]
    snaps = snapshots(listed, count + 1, seed=11)
    bodies = [{"quotes": [{"code": t.symbol, "time": t.time.isoformat(), "price": t.price, "volume": t.volume}
                          for t in ticks]} for ticks in snaps]
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        http.post("/api/v1/market/quotes", json=bodies[0]).raise_for_status()  # loads the book
        started = time.perf_counter()
        for body in bodies[1:]:
            answer = http.post("/api/v1/market/quotes", json=body)
            answer.raise_for_status()
            assert answer.json()["evaluated"]
        elapsed = time.perf_counter() - started
    server.should_exit = True
    thread.join(10)
    n = sum(len(b["quotes"]) for b in bodies[1:])
    print(f"\nPOST /api/v1/market/quotes over HTTP, SQLite, evaluated in process: {len(listed):,} stocks a "
          f"snapshot, {count} snapshots: {n / elapsed:,.0f} quotes/s, {elapsed / count * 1000:,.0f} ms a snapshot")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=5400)
    ap.add_argument("--snapshots", type=int, default=20)
    ap.add_argument("--naive-snapshots", type=int, default=3)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--api-snapshots", type=int, default=10, help="0: skip the HTTP run")
    args = ap.parse_args()
    load_all_models()
    snaps = snapshots(universe(args.symbols), args.snapshots)
    print("| database | quotes per snapshot | snapshots | store.ingest quotes/s | per snapshot "
          "| per-quote ORM baseline quotes/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    with TemporaryDirectory() as folder:
        run("SQLite (file)", None, snaps, args.naive_snapshots, Path(folder))
        if args.pg:
            run("PostgreSQL 127.0.0.1", args.pg, snaps, args.naive_snapshots, Path(folder))
        if args.api_snapshots:
            run_api(args.symbols, args.api_snapshots, Path(folder))


if __name__ == "__main__":
    main()
