"""Outbox dispatcher throughput to a local push webhook, beside the raw request rate to the same
webhook measured in the same run.

Run: .venv/bin/python bench/bench_outbox.py [--messages 20000] [--pg URL] [--concurrency 64]
     [--processes 2]

A push gateway (aiohttp, its own process, honouring Idempotency-Key) listens on 127.0.0.1. The
outbox is filled with app-push alerts to 2,000 customers (addresses looked up through the customers
service at send time, as monitoring's alerts are), then drained by one dispatcher process. Printed:

- baseline: the same number of POSTs, same body and headers, straight from an aiohttp client
  session with the same concurrency (the client the adapters use: what the dispatcher's network
  side cannot beat);
- the dispatcher: claim (UPDATE … RETURNING, FOR UPDATE SKIP LOCKED on PostgreSQL), address
  look-up and decryption, sends, and the executemany that records them, in messages per second;
- the dispatcher's database side alone (the same passes with an adapter that answers at once);
- with ``--processes N``, N dispatcher processes draining the same outbox side by side;
- for reference, the same POSTs from an httpx AsyncClient (the adapters' client before: 1.2 ms of
  CPU a request against aiohttp's 0.2), which shows how much of the cost is the HTTP client.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from collections.abc import Coroutine
from datetime import date

import aiohttp
import httpx
from aiohttp import web
from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import sessionmaker

from brokercare.core.database import Base, make_engine
from brokercare.core.domains import load_all_models
from brokercare.core.settings import get_settings, reset_settings
from brokercare.customers.models import Customer
from brokercare.outbox import service
from brokercare.outbox.adapters import Outgoing
from brokercare.outbox.dispatcher import Dispatcher
from brokercare.outbox.schemas import NewMessage
from brokercare.security.service import blind_index, get_cipher


def serve(port_queue: mp.Queue) -> None:
    """The push gateway: one JSON message per POST, deduplicated by Idempotency-Key."""
    seen: dict[str, str] = {}

    async def push(request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        await request.read()
        message_id = seen.setdefault(key, uuid.uuid4().hex[:16])
        return web.json_response({"message_id": message_id})

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"delivered": len(seen)})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/push", push)
        app.router.add_get("/count", count)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def raw_httpx(url: str, n: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def one(i: int) -> None:
            async with gate:
                body = {"id": f"raw:{i}", "to": f"C{i % 2000:08d}", "title": "持仓提醒",
                        "body": "您持有的宁德时代 10 分钟内下跌 5.2%，现价 190.10 元。",
                        "priority": "normal", "data": {"kind": "move_down", "origin": "monitoring"}}
                r = await client.post(url, json=body, headers={"Idempotency-Key": f"raw:{i}"})
                r.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


async def raw_aiohttp(url: str, n: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as client:
        async def one(i: int) -> None:
            async with gate:
                body = {"id": f"aio:{i}", "to": f"C{i % 2000:08d}", "title": "持仓提醒",
                        "body": "您持有的宁德时代 10 分钟内下跌 5.2%，现价 190.10 元。",
                        "priority": "normal", "data": {"kind": "move_down", "origin": "monitoring"}}
                async with client.post(url, json=body, headers={"Idempotency-Key": f"aio:{i}"}) as r:
                    r.raise_for_status()
                    await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


def setup_database(url: str, customers: int) -> sessionmaker:
    load_all_models()
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as s:
        cipher = get_cipher(s)
        rows = [{"customer_no": f"C{i:08d}", "name": "客户", "gender": "F",
                 "birth_date": date(1985, 1, 1), "id_number_enc": "x", "id_number_hash": f"id{i}",
                 "phone_enc": cipher.encrypt(f"138{i:08d}"), "phone_hash": blind_index(f"138{i:08d}"),
                 "province": "广东", "city": "深圳", "occupation": "工程师", "branch_code": "SZ01",
                 "opened_on": date(2020, 1, 2)} for i in range(customers)]
        s.execute(insert(Customer), rows)
        s.commit()
    return sessions


def fill(sessions: sessionmaker, n: int, tag: str) -> float:
    with sessions() as s:
        ids = [cid for (cid,) in s.execute(text("SELECT id FROM customers ORDER BY id"))]
    started = time.perf_counter()
    for lo in range(0, n, 2000):
        with sessions() as s:
            service.enqueue_many(s, [
                NewMessage(channel="app", kind="move_down", customer_id=ids[i % len(ids)],
                           origin="monitoring", origin_ref=f"alert:{i}", idempotency_key=f"{tag}:{i}",
                           subject="持仓提醒", body="您持有的宁德时代 10 分钟内下跌 5.2%，现价 190.10 元。")
                for i in range(lo, min(n, lo + 2000))])
            s.commit()
    return time.perf_counter() - started


class Instant:
    """An adapter that takes every message at once: the dispatcher's database side alone."""

    channel = "app"
    max_in_flight = 1024

    async def send(self, message: Outgoing) -> str:
        return message.key

    async def aclose(self) -> None:
        return None


async def drain(dispatcher: Dispatcher, batch: int) -> tuple[float, int]:
    started, sent = time.perf_counter(), 0
    while True:
        counts = await dispatcher.run_once(batch)
        sent += counts.sent
        if not counts.claimed:
            break
    elapsed = time.perf_counter() - started
    await dispatcher.aclose()
    return elapsed, sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--customers", type=int, default=2_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=1, help="Dispatcher processes side by side.")
    ap.add_argument("--pg", help="PostgreSQL URL (a fresh schema is made and dropped)")
    args = ap.parse_args()

    os.environ.setdefault("BROKERCARE_MASTER_KEY", "A" * 43 + "=")
    port_queue: mp.Queue = mp.Queue()
    gateway = mp.Process(target=serve, args=(port_queue,), daemon=True)
    gateway.start()
    url = f"http://127.0.0.1:{port_queue.get(timeout=30)}/push"
    os.environ.update(BROKERCARE_PUSH_URL=url, BROKERCARE_OUTBOX_CONCURRENCY=str(args.concurrency),
                      BROKERCARE_OUTBOX_BATCH=str(args.batch), BROKERCARE_OUTBOX_TIMEOUT_S="30",
                      BROKERCARE_OUTBOX_LEASE_S="600")
    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BROKERCARE_DATA_DIR"] = tmp
        if args.pg:
            schema = f"bench_outbox_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE SCHEMA "{schema}"'))
            db_url = f"{args.pg}{'&' if '?' in args.pg else '?'}options=-csearch_path%3D{schema}"
        else:
            db_url = f"sqlite:///{tmp}/bench.db"
        reset_settings()
        try:
            run(args, url, db_url)
        finally:
            gateway.terminate()
            if schema:
                with admin.connect() as c:
                    c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


def line(what: str, n: int, wall: float, cpu: float | None = None, extra: str = "") -> None:
    """messages/s by the wall clock, and this process's CPU per message (what one idle core
    would cost: the machine is shared, so the wall clock includes waiting for a core)."""
    cost = f"{cpu / n * 1000:6.2f} ms CPU/msg" if cpu is not None else " " * 17
    print(f"  {what:<36}{n / wall:8,.0f} /s  {wall:7.2f} s  {cost}{extra}")


def timed(coroutine: Coroutine) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(coroutine)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run(args: argparse.Namespace, url: str, db_url: str) -> None:
    n = args.messages
    print(f"outbox bench: {n:,} app-push messages, concurrency {args.concurrency}, batch {args.batch}, "
          f"{'PostgreSQL' if db_url.startswith('postgresql') else 'SQLite'}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    sessions = setup_database(db_url, args.customers)
    raw, raw_cpu, _ = timed(raw_aiohttp(url, n, args.concurrency))
    line("baseline: raw aiohttp POSTs", n, raw, raw_cpu)

    enqueue = fill(sessions, n, "instant")
    line("enqueue_many (2,000 per commit)", n, enqueue)
    wall, cpu, (_, sent) = timed(drain(Dispatcher(sessions, adapters={"app": Instant()}), args.batch))
    assert sent == n, sent
    line("dispatcher, database side alone", n, wall, cpu)

    fill(sessions, n, "push")
    wall, cpu, (_, sent) = timed(drain(Dispatcher(sessions, settings=get_settings()), args.batch))
    delivered = httpx.get(url.replace("/push", "/count")).json()["delivered"]
    assert sent == n and delivered >= n, (sent, delivered)
    line("dispatcher to the webhook", n, wall, cpu, f"  = {raw / wall:.0%} of the raw aiohttp rate")

    if args.processes > 1:
        fill(sessions, n, "parallel")
        wall, sent = side_by_side(db_url, args.processes, args.batch)
        assert sent == n, sent
        line(f"{args.processes} dispatcher processes", n, wall)

    ref, ref_cpu, _ = timed(raw_httpx(url, n, args.concurrency))
    line("reference: raw httpx client POSTs", n, ref, ref_cpu)


def _dispatch_process(db_url: str, batch: int, start, results: mp.Queue) -> None:
    sessions = sessionmaker(make_engine(db_url), expire_on_commit=False)
    start.wait()
    results.put(asyncio.run(drain(Dispatcher(sessions, settings=get_settings()), batch))[1])


def side_by_side(db_url: str, processes: int, batch: int) -> tuple[float, int]:
    start, results = mp.Event(), mp.Queue()
    procs = [mp.Process(target=_dispatch_process, args=(db_url, batch, start, results))
             for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(3)  # let each import and connect before the clock starts
    started = time.perf_counter()
    start.set()
    sent = sum(results.get(timeout=3600) for _ in procs)
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    return elapsed, sent

if __name__ == "__main__":
    main()
