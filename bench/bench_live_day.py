"""A trading day's live path end to end on the embedded default: quote ingest to delivered notification.

Run: nice -n 19 .venv/bin/python bench/bench_live_day.py [--accounts 1000000] [--snapshots 20]
     [--db FILE] [--interval 3] [--fallers 8] [--profile]

What it does (issue 12 item 7):

1. Builds (or reuses, ``--db FILE``) a SQLite brokerage straight through the bulk loader: the
   shipped instrument master cut to 5,400 symbols (every A-share and the first ETFs, real names and
   industries), N customers with one account each (3 % of them margin accounts with a contract),
   5N positions spread over the symbols by a Zipf popularity (a few names held by very many, most
   by a few hundred), and alert rules as customers set them: most on the defaults (a 5 % move in
   10 minutes, limit alerts, the app), one in ten at 3 % in 30 minutes, a third of those also by
   SMS (phones encrypted with the installation's key, as the customers domain stores them).
2. Starts a local gateway (aiohttp, its own process) that plays the broker's app-push and SMS
   webhooks and records when each request arrives, and a real ``brokercare serve`` subprocess on
   that database with the embedded scheduler and dispatcher (``BROKERCARE_PUSH_URL`` /
   ``BROKERCARE_SMS_URL`` at the gateway, no Redis: snapshots are evaluated in-process).
3. POSTs a full-market snapshot to ``/api/v1/market/quotes`` every ``--interval`` seconds with a
   ``market_feed`` service token (signed with the installation's secret, as ``brokercare market
   feed`` does on the platform's host): prices a seeded random walk at an ordinary intraday
   volatility (no alert fires from noise), and mid-run one industry slides for half a minute: all
   its names lose 1-2.5 %, and ``--fallers`` of them (held by a middling number of customers) lose
   5-7 % over four snapshots each, one name after another. That is a bad half-minute for one
   sector, the kind of news that makes a broker's phones ring, not a crash: it alerts the holders
   of a handful of names, well under 1 % of the positions (at 1,000,000 accounts a few thousand
   customers, most on the default 5 %-in-10-minutes rule, the rest on their own 3 %).
4. Prints: the server's quotes/s (the whole POST: store, publish, evaluate, record) and the store
   alone in the same run; the evaluator's own time per snapshot (the server's
   ``brokercare_snapshot_evaluation_seconds`` and the same evaluator over the same book run here
   alone, as ``bench_monitoring.py`` does); for every notification the gateway received, the time
   from its snapshot's POST start to the gateway receiving the adapter's request (p50, p99, max, by
   snapshot); alerts recorded, messages queued and delivered (nothing lost, nothing twice).

No figure is asserted here (no unit test times anything); ``--accounts 2000 --snapshots 12`` is a
quick check that the whole path works.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

SYMBOLS = 5400
#: Snapshots the industry's slide lasts (30 s at one every 3 s).
SLIDE = 10
#: 10:00 Beijing on a trading day (a Friday): the first snapshot's time.
START = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
SECRET = "bench-live-day-secret-" + "s" * 32
MASTER = base64.b64encode(b"bench-live-day-master-key-32byte").decode()
#: Tables a previous run wrote; emptied when a database is reused so its quotes do not look newer.
LIVE_TABLES = ("quotes", "minute_bars", "monitor_alerts", "margin_calls", "outbox_messages",
               "processed_events", "monitor_temperatures", "job_runs")
STAMP = re.compile(r":(\d{8}T\d{6})(?::|$)")


# --- the synthetic brokerage -----------------------------------------------------------------------

def _universe() -> list[dict]:
    from brokercare.market.service import shipped_instruments

    rows = shipped_instruments()
    stocks = [r for r in rows if r["kind"] == "stock" and r.get("last_price")]
    etfs = [r for r in rows if r["kind"] == "etf" and r.get("last_price")]
    return (stocks + etfs)[:SYMBOLS]


def build(db: Path, n: int, seed: int) -> None:
    """N customers, N accounts, 5N positions, 3 % margin contracts, alert rules; bulk-loaded."""
    from brokercare.core.bulkload import fast_sqlite_load, insert_columns
    from brokercare.core.database import Base, make_engine
    from brokercare.core.domains import load_all_models
    from brokercare.market.service import load_instruments
    from brokercare.security.service import blind_index, get_cipher

    load_all_models()
    engine = make_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    universe = _universe()
    load_instruments(engine, universe)
    rng = np.random.default_rng(seed)
    n_sym = len(universe)
    symbols = np.array([u["symbol"] for u in universe], dtype=object)
    prev = np.array([float(u["last_price"]) for u in universe])
    popularity = 1.0 / np.arange(1, n_sym + 1) ** 0.8
    popularity = popularity[rng.permutation(n_sym)]
    popularity /= popularity.sum()

    ids = np.arange(1, n + 1, dtype=np.int64)
    now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    margin = np.sort(rng.choice(n, max(1, n * 3 // 100), replace=False))
    kind = np.full(n, "cash", dtype=object)
    kind[margin] = "margin"
    with_rules = rng.random(n) < 0.10
    sms = with_rules & (rng.random(n) < 1 / 3)

    # positions: 5 per account on average, Zipf-popular symbols, one row per (account, symbol)
    acc = rng.integers(0, n, int(n * 5 * 1.12))
    sym = rng.choice(n_sym, acc.size, p=popularity)
    key = np.unique(acc * n_sym + sym)
    key = np.sort(rng.choice(key, min(key.size, 5 * n), replace=False))
    p_acc, p_sym = key // n_sym, key % n_sym
    qty = rng.integers(1, 40, key.size) * 100.0
    cost = np.round(prev[p_sym] * rng.lognormal(0, 0.15, key.size), 4)
    value = np.bincount(p_acc, weights=qty * prev[p_sym], minlength=n)
    cash = np.round(np.exp(rng.normal(10.0, 1.5, n)), 2)

    from sqlalchemy.orm import Session

    with Session(engine) as s:  # the installation's data key, sealed with the master key
        cipher = get_cipher(s)
        s.commit()
    phones = {int(i): f"139{int(i):08d}" for i in ids[sms]}
    phone_enc = [cipher.encrypt(phones[i]) if i in phones else "x" for i in ids.tolist()]
    phone_hash = [blind_index(phones[i]) if i in phones else f"p{i}" for i in ids.tolist()]
    with engine.connect() as conn, fast_sqlite_load(conn, ("customers", "accounts", "positions")):
        for lo in range(0, n, 200_000):
            part = slice(lo, min(n, lo + 200_000))
            pid = ids[part]
            m = len(pid)
            insert_columns(conn, "customers", {
                "id": pid, "customer_no": [f"C{i:09d}" for i in pid.tolist()], "name": ["客户"] * m,
                "gender": np.where(pid % 2 == 0, "M", "F"), "birth_date": ["1980-05-01"] * m,
                "id_number_enc": ["x"] * m, "id_number_hash": [f"h{i}" for i in pid.tolist()],
                "phone_enc": phone_enc[part], "phone_hash": phone_hash[part], "address_enc": ["x"] * m,
                "province": ["广东"] * m, "city": ["深圳"] * m, "occupation": ["职员"] * m,
                "marital_status": ["married"] * m, "branch_code": ["B001"] * m,
                "opened_on": ["2020-03-01"] * m, "status": ["active"] * m, "risk_level": ["C3"] * m,
                "investor_type": ["ordinary"] * m, "phone_verified": [1] * m,
                "created_at": np.full(m, now), "updated_at": np.full(m, now)})
            insert_columns(conn, "accounts", {
                "id": pid, "account_no": [f"A{i:011d}" for i in pid.tolist()], "customer_id": pid,
                "kind": kind[part].tolist(), "status": ["active"] * m, "opened_on": ["2020-03-01"] * m,
                "branch_code": ["B001"] * m, "commission_rate": [0.00025] * m,
                "cash_balance": cash[part], "frozen_cash": [0.0] * m, "currency": ["CNY"] * m})
            conn.commit()
        for lo in range(0, key.size, 1_000_000):
            part = slice(lo, min(key.size, lo + 1_000_000))
            m = len(p_acc[part])
            insert_columns(conn, "positions", {
                "account_id": p_acc[part] + 1, "symbol": symbols[p_sym[part]].tolist(),
                "quantity": qty[part], "available_quantity": qty[part], "cost_price": cost[part],
                "opened_on": ["2025-06-02"] * m, "updated_at": np.full(m, now)})
            conn.commit()
        # margin contracts: maintenance ratio 1.4 + Gamma(2, 0.5) (mean 2.4; ~0.5 % within 0.05
        # of the 1.40 warning line, as a broker's book on an ordinary morning)
        ratio = 1.4 + rng.gamma(2.0, 0.5, margin.size)
        assets = value[margin] + cash[margin]
        debt = np.round(assets / ratio, 2)
        k = margin.size
        insert_columns(conn, "margin_contracts", {
            "id": np.arange(1, k + 1), "contract_no": [f"RZ{i:010d}" for i in range(1, k + 1)],
            "account_id": margin + 1, "credit_limit": np.round(debt * 1.5 + 100_000, 2),
            "financing_rate": [0.06] * k, "lending_rate": [0.08] * k, "warning_line": [1.4] * k,
            "liquidation_line": [1.3] * k, "withdrawal_line": [3.0] * k, "topup_days": [2] * k,
            "financing_debt": debt, "lending_debt": [0.0] * k, "interest_due": [0.0] * k,
            "start_on": ["2026-01-05"] * k, "end_on": ["2026-07-05"] * k, "status": ["active"] * k})
        rules = ids[with_rules]
        r = rules.size
        insert_columns(conn, "monitor_preferences", {
            "customer_id": rules, "move_pct": [0.03] * r, "window_min": [30] * r, "volume_ratio": [3.0] * r,
            "limit_alerts": [1] * r, "hourly_cap": [6] * r,
            "channels": ['["app", "sms"]' if x else '["app"]' for x in sms[with_rules].tolist()],
            "margin_forecast_threshold": [0.5] * r, "daily_report": [0] * r,
            "updated_at": np.full(r, now)})
        conn.commit()
    engine.dispose()


def reset_live_tables(db: Path) -> None:
    import sqlite3

    con = sqlite3.connect(db)
    have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for t in LIVE_TABLES:
        if t in have:
            con.execute(f"DELETE FROM {t}")
    con.commit()
    con.close()


def book_summary(db: Path) -> dict:
    import sqlite3

    con = sqlite3.connect(db)
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    out = {"accounts": one("SELECT COUNT(*) FROM accounts"), "positions": one("SELECT COUNT(*) FROM positions"),
           "symbols": one("SELECT COUNT(*) FROM instruments"),
           "margin contracts": one("SELECT COUNT(*) FROM margin_contracts"),
           "customers with own rules": one("SELECT COUNT(*) FROM monitor_preferences")}
    con.close()
    return out


# --- the market ------------------------------------------------------------------------------------

def market(db: Path, count: int, fallers: int, seed: int):
    """Snapshots as request bodies (JSON bytes), with the sliding industry and its fallers."""
    import sqlite3

    con = sqlite3.connect(db)
    rows = con.execute("SELECT symbol, last_price, industry FROM instruments "
                       "WHERE kind IN ('stock', 'etf') ORDER BY symbol").fetchall()
    held = dict(con.execute("SELECT symbol, COUNT(*) FROM positions GROUP BY symbol").fetchall())
    con.close()
    symbols = [r[0] for r in rows]
    prev = np.array([float(r[1]) for r in rows])
    industry = np.array([r[2] or "" for r in rows], dtype=object)
    rng = np.random.default_rng(seed)
    # the sliding industry: a mid-sized one (50-80 names), its fallers the names with fewest
    # holders among those with at least some (a sector's small caps fall hardest)
    sizes = {k: int((industry == k).sum()) for k in set(industry.tolist()) if k}
    sector = sorted(k for k, v in sizes.items() if 50 <= v <= 80)[0]
    members = np.flatnonzero(industry == sector)
    holders = np.array([held.get(symbols[k], 0) for k in members])
    order = members[np.argsort(holders, kind="stable")]
    fall_idx = order[len(order) // 2: len(order) // 2 + fallers]  # middling holders, not the rarest
    drop = np.zeros(len(symbols))
    drop[members] = rng.uniform(0.01, 0.025, members.size)
    drop[fall_idx] = rng.uniform(0.05, 0.07, fall_idx.size)
    # the slide takes half a minute: the industry over 10 snapshots, each faller over 4 of them
    # starting at its own snapshot (news reaches one name, then its peers)
    mid = max(1, count // 2 - 5)
    begin = np.full(len(symbols), mid)
    span = np.full(len(symbols), SLIDE)
    begin[fall_idx] = mid + rng.integers(0, SLIDE - 3, fall_idx.size)
    span[fall_idx] = 4
    level = prev.copy()
    volume = np.zeros(len(symbols))
    bodies, times = [], []
    for k in range(count + 1):  # snapshot 0 warms the server up (first quotes, first windows)
        level = level * np.exp(rng.normal(0, 0.0004, len(symbols)))  # ~2 % a day
        sliding = (begin <= k) & (k < begin + span)
        level = np.where(sliding, level * (1 - drop) ** (1 / span), level)
        price = np.round(level, 2).clip(0.01)
        volume = volume + rng.integers(100, 50_000, len(symbols)) // 100 * 100
        t = START + timedelta(seconds=3 * k)
        times.append(t)
        bodies.append(json.dumps({"quotes": [
            {"code": s, "time": t.isoformat(), "price": float(p), "volume": float(v), "prev_close": float(c)}
            for s, p, v, c in zip(symbols, price, volume, prev, strict=True)]}).encode())
    held_fallers = int(sum(held.get(symbols[k], 0) for k in fall_idx))
    return bodies, times, {"sector": sector, "members": int(members.size), "fallers": int(fall_idx.size),
                           "faller_positions": held_fallers, "from_snapshot": mid, "symbols": symbols,
                           "prev": prev}


# --- the gateway -----------------------------------------------------------------------------------

def gateway(port_queue: mp.Queue) -> None:
    """App-push and SMS webhooks: record each request's arrival (wall clock) and its key."""
    import asyncio

    from aiohttp import web

    log: list[tuple[float, str, str]] = []
    seen: set[str] = set()

    async def take(request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.json()
        key = request.headers.get("Idempotency-Key", body.get("id", ""))
        log.append((arrived, request.path.strip("/"), key))
        seen.add(key)
        return web.json_response({"message_id": key})

    async def dump(request: web.Request) -> web.Response:
        return web.json_response({"log": log, "unique": len(seen)})

    async def main() -> None:
        app = web.Application(client_max_size=2**24)
        app.router.add_post("/push", take)
        app.router.add_post("/sms", take)
        app.router.add_get("/log", dump)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


# --- the run ---------------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(db: Path, data_dir: Path, hook: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKERCARE_")}
    env.update(BROKERCARE_DATABASE_URL=f"sqlite:///{db}", BROKERCARE_DATA_DIR=str(data_dir),
               BROKERCARE_SECRET_KEY=SECRET, BROKERCARE_MASTER_KEY=MASTER,
               BROKERCARE_PUSH_URL=f"{hook}/push", BROKERCARE_SMS_URL=f"{hook}/sms",
               BROKERCARE_SCHEDULER="embedded", BROKERCARE_DISPATCHER="embedded",
               BROKERCARE_LOG_LEVEL="WARNING")
    return env


def feed_token(db: Path) -> str:
    """A market_feed token signed with the installation's secret (as ``market feed`` gets one)."""
    from sqlalchemy.orm import Session

    from brokercare.core.database import make_engine
    from brokercare.security.service import service_token

    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        token = service_token(s, "market_feed")
    engine.dispose()
    return token


def counts(db: Path, first_stamp: str) -> dict:
    import sqlite3

    con = sqlite3.connect(db, timeout=30)
    one = lambda sql, *a: con.execute(sql, a).fetchone()[0]  # noqa: E731
    since = datetime.strptime(first_stamp, "%Y%m%dT%H%M%S").strftime("%Y-%m-%d %H:%M:%S")
    out = {
        "alerts": one("SELECT COUNT(*) FROM monitor_alerts WHERE fired_at >= ?", since),
        "over_cap": one("SELECT COUNT(*) FROM monitor_alerts WHERE fired_at >= ? AND data LIKE '%over_hourly_cap%'",
                        since),
        "margin_calls": one("SELECT COUNT(*) FROM margin_calls WHERE opened_at >= ?", since),
        "queued": one("SELECT COUNT(*) FROM outbox_messages WHERE origin = 'monitoring'"),
        "sent": one("SELECT COUNT(*) FROM outbox_messages WHERE origin = 'monitoring' AND state = 'sent'"),
        "waiting": one("SELECT COUNT(*) FROM outbox_messages WHERE state IN ('pending', 'sending', 'failed')"),
        "dead": one("SELECT COUNT(*) FROM outbox_messages WHERE state = 'dead'"),
        "alerted": {(c, str(t)[:19]) for c, t in con.execute(
            "SELECT DISTINCT customer_id, fired_at FROM monitor_alerts WHERE fired_at >= ? "
            "AND data NOT LIKE '%over_hourly_cap%'", (since,))},
    }
    con.close()
    return out


def serve(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "brokercare.cli", "serve", "--port", str(port)]
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"brokercare serve exited ({proc.returncode}); see {log_path}:\n"
                             + log_path.read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code < 500:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("brokercare serve did not answer /health in 300 s")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(args: argparse.Namespace, db: Path, work: Path) -> None:
    port_queue: mp.Queue = mp.Queue()
    hook_proc = mp.Process(target=gateway, args=(port_queue,), daemon=True)
    hook_proc.start()
    hook = f"http://127.0.0.1:{port_queue.get(timeout=30)}"
    bodies, times, move = market(db, args.snapshots, args.fallers, args.seed)
    stamps = [f"{t:%Y%m%dT%H%M%S}" for t in times]
    print(f"market: {len(move['symbols']):,} symbols a snapshot, {args.snapshots} snapshots "
          f"{args.interval:g} s apart after one warm-up; industry {move['sector']} ({move['members']} names) "
          f"slides 1-2.5 % over {SLIDE} snapshots from snapshot {move['from_snapshot']}, its "
          f"{move['fallers']} fallers 5-7 % over 4 snapshots each, staggered ({move['faller_positions']:,} positions held in them)")
    os.environ.update(BROKERCARE_SECRET_KEY=SECRET, BROKERCARE_MASTER_KEY=MASTER,
                      BROKERCARE_DATA_DIR=str(work / "data"))
    token = feed_token(db)
    port = free_port()
    env = environment(db, work / "data", hook)
    started = time.perf_counter()
    server = serve(env, port, work / "serve.log")
    print(f"brokercare serve up in {time.perf_counter() - started:.1f} s (embedded scheduler and dispatcher, "
          "in-process bus), load average {:.1f}".format(os.getloadavg()[0]))
    profiler = None
    posts: list[tuple[float, float]] = []  # (wall start, seconds)
    late: list[float] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as http:
            t = time.perf_counter()
            answer = http.post("/api/v1/market/quotes", content=bodies[0])
            answer.raise_for_status()
            print(f"warm-up snapshot (the server loaded the book when it started): {time.perf_counter() - t:.1f} s, {answer.json()}")
            settle(db, stamps[0], 120)
            if args.profile:
                profiler = subprocess.Popen(
                    [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(server.pid), "-o",
                     str(args.profile), "-f", "raw", "-r", "50", "--threads", "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
            clock0 = time.perf_counter()
            for k, body in enumerate(bodies[1:], start=1):
                due = clock0 + (k - 1) * args.interval
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.01:
                    late.append(-wait)
                wall, t = time.time(), time.perf_counter()
                answer = http.post("/api/v1/market/quotes", content=body)
                answer.raise_for_status()
                posts.append((wall, time.perf_counter() - t))
            delivered_by = settle(db, stamps[1], 60)
            metrics = http.get("/metrics").text
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    log = httpx.get(f"{hook}/log").json()
    hook_proc.terminate()
    report(args, db, stamps, posts, late, log, metrics, delivered_by)
    baseline(db, bodies, times, move, posts)


def settle(db: Path, first_stamp: str, timeout: float) -> float:
    """Wait until the outbox has nothing waiting; seconds waited."""
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        if counts(db, first_stamp)["waiting"] == 0:
            break
        time.sleep(0.25)
    return time.perf_counter() - t


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def report(args, db: Path, stamps: list[str], posts, late, log: dict, metrics: str, waited: float) -> None:
    measured = {s: k for k, s in enumerate(stamps[1:])}
    c = counts(db, stamps[1])
    n_quotes = SYMBOLS
    post_s = [p[1] for p in posts]
    print(f"\nPOST /api/v1/market/quotes (store, publish, evaluate, record; {n_quotes:,} quotes each): "
          f"median {np.median(post_s) * 1000:,.0f} ms, max {max(post_s) * 1000:,.0f} ms -> "
          f"{n_quotes / np.median(post_s):,.0f} quotes/s at the median"
          + (f"; {len(late)} snapshot(s) started late, by up to {max(late):.2f} s" if late else ""))
    ev_sum = _metric(metrics, "brokercare_snapshot_evaluation_seconds_sum")
    ev_n = _metric(metrics, "brokercare_snapshot_evaluation_seconds_count")
    print(f"server's evaluator (brokercare_snapshot_evaluation_seconds): {ev_n:.0f} snapshots, "
          f"mean {ev_sum / ev_n * 1000:,.1f} ms (the warm-up included)")
    latencies, per_snap, dup = [], {}, 0
    keys: set[str] = set()
    for arrived, _path, key in log["log"]:
        if key in keys:
            dup += 1
            continue
        keys.add(key)
        m = STAMP.search(key)
        if m is None or m.group(1) not in measured:
            continue
        k = measured[m.group(1)]
        lat = arrived - posts[k][0]
        latencies.append(lat)
        per_snap.setdefault(k, []).append(lat)
    print(f"\nnotifications to the gateway from the measured snapshots: {len(latencies):,} "
          f"(app + SMS requests; {dup} repeated key(s))")
    if latencies:
        print(f"  snapshot POST start -> gateway receives the adapter's request: p50 {pct(latencies, 50) * 1000:,.0f} ms, "
              f"p99 {pct(latencies, 99) * 1000:,.0f} ms, max {max(latencies) * 1000:,.0f} ms "
              f"(target p99 <= 1,000 ms: {'met' if pct(latencies, 99) <= 1 else 'NOT met'})")
        print("  | snapshot | POST ms | notifications | first ms | p50 ms | max ms |")
        print("  |---:|---:|---:|---:|---:|---:|")
        for k in sorted(per_snap):
            v = per_snap[k]
            print(f"  | {k + 1} | {posts[k][1] * 1000:,.0f} | {len(v):,} | {min(v) * 1000:,.0f} | "
                  f"{pct(v, 50) * 1000:,.0f} | {max(v) * 1000:,.0f} |")
    # every alerted (customer, snapshot) got a message; every queued message was delivered once
    messaged = set()
    for key in keys:
        m = STAMP.search(key)
        if m:
            messaged.add(m.group(1))
    alerted_stamps = {datetime.strptime(t, "%Y-%m-%d %H:%M:%S").strftime("%Y%m%dT%H%M%S") for _, t in c["alerted"]}
    print(f"\nalerts recorded {c['alerts']:,} ({c['over_cap']} over a customer's hourly cap, kept in their list), "
          f"margin calls {c['margin_calls']}; monitoring messages queued {c['queued']:,} (warm-up included), "
          f"sent {c['sent']:,}, dead {c['dead']}, still waiting {c['waiting']} after {waited:.1f} s; "
          f"gateway received {log['unique']:,} distinct keys")
    lost = c["queued"] - c["sent"]
    print(f"  nothing lost: {'yes' if lost == 0 and c['dead'] == 0 and log['unique'] >= c['sent'] else 'NO'}; "
          f"snapshots with alerts but no message: {sorted(alerted_stamps - messaged) or 'none'}")


def baseline(db: Path, bodies: list[bytes], times: list[datetime], move: dict, posts) -> None:
    """The same evaluator over the same book, alone in this process (the warm-up snapshot evaluated
    first, untimed, as the server did); and the quote store alone, on the measured snapshots."""
    import gc

    from sqlalchemy.orm import sessionmaker

    from brokercare.core.database import Base, make_engine
    from brokercare.core.domains import load_all_models
    from brokercare.market import store
    from brokercare.market.models import MinuteBar, Quote
    from brokercare.monitoring.book import load_book, load_universe, market_info
    from brokercare.monitoring.engine import Evaluator, Snapshot

    load_all_models()
    engine = make_engine(f"sqlite:///{db}")
    sessions = sessionmaker(engine)
    t = time.perf_counter()
    with sessions() as s:
        universe = load_universe(s)
        book = load_book(s, universe=universe)
        index = {u.symbol: k for k, u in enumerate(universe)}
        prev = np.full(len(universe), np.nan)
        for sym, p in zip(move["symbols"], move["prev"], strict=True):
            prev[index[sym]] = p
        info = market_info(universe, times[0].date(), prev, session=s)
    load_s = time.perf_counter() - t
    ev = Evaluator(book, info)
    snaps, ticks = [], []
    for body in bodies:
        quotes = json.loads(body)["quotes"]
        prices, volumes = np.full(len(universe), np.nan), np.zeros(len(universe))
        for q in quotes:
            prices[index[q["code"]]], volumes[index[q["code"]]] = q["price"], q["volume"]
        at = datetime.fromisoformat(quotes[0]["time"])
        snaps.append(Snapshot(at, prices, volumes))
        ticks.append([store.Tick(q["code"], at, q["price"], q["volume"], q["prev_close"]) for q in quotes])
    ev.evaluate(snaps[0])
    ticks = ticks[1:]
    gc.disable()
    took, fired = [], 0
    for snap in snaps[1:]:
        t = time.perf_counter()
        found = ev.evaluate(snap)
        took.append(time.perf_counter() - t)
        fired += found.count
    gc.enable()
    engine.dispose()
    print(f"\nbaseline, same run: the evaluator alone over the same book ({len(book.account_ids):,} accounts, "
          f"{len(book.qty):,} positions; book loaded in {load_s:.1f} s): median {np.median(took) * 1000:,.1f} ms "
          f"a snapshot, max {max(took) * 1000:,.1f} ms, {fired:,} findings")
    print("  per snapshot ms: " + ", ".join(f"{x * 1000:.0f}" for x in took))
    with tempfile.TemporaryDirectory() as folder:
        fresh = make_engine(f"sqlite:///{folder}/quotes.db")
        Base.metadata.create_all(fresh, tables=[Quote.__table__, MinuteBar.__table__])
        t = time.perf_counter()
        for part in ticks:
            with fresh.begin() as conn:
                store.ingest(conn, part)
        ingest = time.perf_counter() - t
        fresh.dispose()
    n = sum(len(p) for p in ticks)
    median_post = float(np.median([p[1] for p in posts]))
    print(f"baseline, same run: the quote store alone (market.store.ingest, fresh SQLite file): "
          f"{n / ingest:,.0f} quotes/s, {ingest / len(ticks) * 1000:,.0f} ms a snapshot")
    print(f"ratios: the whole POST takes {median_post / (ingest / len(ticks)):.1f}x the store alone and "
          f"{median_post / float(np.median(took)):.1f}x the evaluator alone (medians)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--snapshots", type=int, default=20)
    ap.add_argument("--interval", type=float, default=3.0, help="seconds between snapshots")
    ap.add_argument("--fallers", type=int, default=8,
                    help="names of the sliding industry that fall 5-7 %% (at most half of its names)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", type=Path, help="reuse this SQLite file if it exists (else build it there)")
    ap.add_argument("--profile", type=Path, help="py-spy raw profile of the server during the measured run")
    args = ap.parse_args()
    os.environ.update(BROKERCARE_SECRET_KEY=SECRET, BROKERCARE_MASTER_KEY=MASTER)
    with tempfile.TemporaryDirectory(prefix="bench_live_day_") as tmp:
        work = Path(tmp)
        os.environ["BROKERCARE_DATA_DIR"] = str(work / "data")
        db = args.db or work / "live.db"
        print(f"bench_live_day: {args.accounts:,} accounts, load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        if db.exists():
            reset_live_tables(db)
            print(f"reusing {db}")
        else:
            t = time.perf_counter()
            build(db, args.accounts, args.seed)
            print(f"built {db} in {time.perf_counter() - t:.1f} s")
        print("book: " + ", ".join(f"{k} {v:,}" for k, v in book_summary(db).items()))
        run(args, db, work)


if __name__ == "__main__":
    main()
