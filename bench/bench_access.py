"""The relationship check and the per-request read ledger: what they add to a staff read.

    .venv/bin/python bench/bench_access.py [--customers 100000] [--checks 2000] [--postgres URL]

A brokerage of ``--customers`` customers (every other one with a manager; one in twenty with
a conversation assigned to an agent, five of them to the agent checked; one in fifty with an open
risk case) is bulk-inserted. Then, on SQLite and
(if reachable) PostgreSQL, timed per call over ``--checks`` random customers:

* baseline: one primary-key read of the customer row (the cheapest read a view could make);
* ``relationship_of`` uncached, for an agent (the service hub's provider), a manager (customers),
  the risk desk (risk case, then margin watchlist: the most providers asked), and an
  administrator (refused without a query);
* the same check again within the request (the session cache);
* ``ReadLog.flush``: one ``access.read`` ledger entry with its index row, committed, against a
  plain ``ledger.append`` of the same data, committed (the cost of the index).
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date

TMP = tempfile.mkdtemp(prefix="bench-access-")
os.environ["BROKERCARE_DATA_DIR"] = TMP
os.environ.setdefault("BROKERCARE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())

from sqlalchemy import create_engine, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from brokercare.core.database import Base, make_engine, utcnow  # noqa: E402
from brokercare.core.domains import load_all_models  # noqa: E402
from brokercare.customers.models import Customer  # noqa: E402
from brokercare.ledger import service as ledger  # noqa: E402
from brokercare.risk.models import RiskCase  # noqa: E402
from brokercare.security.access import ReadLog, relationship_of  # noqa: E402
from brokercare.security.models import User  # noqa: E402
from brokercare.service.models import Contact, Conversation  # noqa: E402


def build(engine, n: int) -> dict:
    Base.metadata.create_all(engine)
    staff = {}
    with Session(engine, expire_on_commit=False) as s:
        for username, role in (("agent01", "agent"), ("manager01", "customer_manager"), ("risk01", "risk"),
                               ("admin01", "admin")):
            user = User(username=username, display_name=username, role=role, password_hash="x")
            s.add(user)
            s.flush()
            staff[role] = user
        s.commit()
        s.expunge_all()
    rows = [{"id": i, "customer_no": f"C{i:09d}", "name": "客户", "gender": "M", "birth_date": date(1980, 1, 1),
             "id_number_enc": "x", "id_number_hash": f"h{i}", "phone_enc": "x", "phone_hash": f"p{i}",
             "province": "广东", "city": "深圳", "occupation": "工程师", "branch_code": "B001",
             "manager_id": staff["customer_manager"].id if i % 2 else None, "opened_on": date(2020, 1, 2),
             "status": "active", "investor_type": "ordinary"} for i in range(1, n + 1)]
    now = utcnow()
    with engine.begin() as conn:
        for k in range(0, n, 20_000):
            conn.execute(insert(Customer), rows[k:k + 20_000])
        served = list(range(1, n + 1, 20))
        conn.execute(insert(Contact), [{"id": i, "customer_id": i, "kind": "customer", "label": "客户"}
                                       for i in served])
        # Five open chats per agent (their slots): agent01 holds five, the others belong to colleagues.
        conn.execute(insert(Conversation), [
            {"contact_id": i, "customer_id": i, "channel": "app", "status": "assigned",
             "assigned_agent_id": staff["agent"].id if k < 5 else 10_000 + k // 5, "assigned_at": now}
            for k, i in enumerate(served)])
        conn.execute(insert(RiskCase), [
            {"subject": f"customer:{i}", "customer_id": i, "kind": "login", "status": "open", "priority": 60,
             "summary": "异地登录"} for i in range(1, n + 1, 50)])
    return staff


def per_call_us(fn, ids: list[int]) -> float:
    started = time.perf_counter()
    for cid in ids:
        fn(cid)
    return (time.perf_counter() - started) / len(ids) * 1e6


def run(label: str, url: str, n: int, checks: int) -> dict:
    engine = make_engine(url)
    staff = build(engine, n)
    ids = random.Random(7).sample(range(1, n + 1), min(checks, n))
    out = {"backend": label}
    with Session(engine) as s:
        out["baseline_pk_read_us"] = per_call_us(
            lambda cid: s.execute(select(Customer.id, Customer.manager_id).where(Customer.id == cid)).first(), ids)
        for role in ("agent", "customer_manager", "admin", "risk"):
            user = staff[role]
            s.info.clear()
            out[f"{role}_check_us"] = per_call_us(lambda cid, u=user: relationship_of(s, u, cid), ids)
        out["cached_check_us"] = per_call_us(lambda cid: relationship_of(s, staff["risk"], cid), ids)
    flushes = ids[: max(50, checks // 10)]
    agent = staff["agent"]
    with Session(engine) as s:
        def plain(cid: int) -> None:
            ledger.append(s, "access.read", f"user:{agent.id}", {"user_id": agent.id, "reads": [
                {"customer_id": cid, "relationship": "customer_manager", "what": ["positions"]}]})
            s.commit()
        out["plain_append_us"] = per_call_us(plain, flushes)
        manager = staff["customer_manager"]
        granted = [cid for cid in ids if cid % 2][: len(flushes)]

        def logged(cid: int) -> None:
            log = ReadLog(s, manager, action="GET /api/v1/accounts/1/positions")
            log.allow(cid, "positions")
            log.flush()
        out["readlog_flush_us"] = per_call_us(logged, granted)
    engine.dispose()
    return out


def own_database(url: str) -> tuple[str, Callable[[], None]]:
    """A fresh PostgreSQL database beside ``url``'s (never the shared test database itself), and
    the function that drops it."""
    name = f"bench_access_{os.getpid()}"
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--postgres", default=os.environ.get("BROKERCARE_TEST_PG_URL",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    load_all_models()
    results = [run("sqlite", f"sqlite:///{TMP}/access.db", args.customers, args.checks)]
    try:
        url, drop = own_database(args.postgres)
        try:
            results.append(run("postgresql", url, args.customers, args.checks))
        finally:
            drop()
    except Exception as exc:  # an unreachable server is reported, not fatal
        print(f"postgresql skipped: {exc.__class__.__name__}: {exc}", file=sys.stderr)
    for r in results:
        base = r["baseline_pk_read_us"]
        print(f"\n{r['backend']}: {args.customers:,} customers, {args.checks:,} checks")
        print(f"  baseline primary-key read        {base:8.1f} µs")
        for role in ("agent", "customer_manager", "risk", "admin"):
            print(f"  relationship_of ({role:16s}) {r[f'{role}_check_us']:8.1f} µs  ({r[f'{role}_check_us'] / base:.2f}× baseline)")
        print(f"  the same check again (cached)    {r['cached_check_us']:8.1f} µs")
        print(f"  ledger.append + commit           {r['plain_append_us']:8.1f} µs")
        print(f"  ReadLog check + flush + commit   {r['readlog_flush_us']:8.1f} µs  "
              f"({r['readlog_flush_us'] / r['plain_append_us']:.2f}× the plain append)")
    print(f"\nmedian of the role checks: {statistics.median(r['risk_check_us'] for r in results):.1f} µs (risk desk)")


if __name__ == "__main__":
    main()
