"""Bulk profile computation (customers/s) against a naive per-customer ORM loop, same run.

    .venv/bin/python bench/bench_profiles.py                     # 1,000,000 customers
    .venv/bin/python bench/bench_profiles.py --customers 100000  # quicker

Builds a synthetic brokerage straight into a fresh SQLite file with executemany (customers,
accounts, positions in real symbols, a year of trades, cash movements, risk assessments and
behaviour events; personal-data columns hold opaque placeholders because profiles never read
them), then times:
  1. ``batch.run``: every profile, SQL aggregation + Polars, written with the bulk path;
  2. the naive baseline on a sample: per customer, load its rows as ORM objects and compute a
     subset of the features (AUM, shares, trade counts, logins, tier) in Python;
  3. the incremental path (``refresh_profile``, the same engine on a one-customer partition).
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

SYMBOLS = [
    ("600519.SH", "stock", "main", "1500"), ("601318.SH", "stock", "main", "45"),
    ("600036.SH", "stock", "main", "35"), ("000858.SZ", "stock", "main", "130"),
    ("300750.SZ", "stock", "chinext", "250"), ("300059.SZ", "stock", "chinext", "15"),
    ("688981.SH", "stock", "star", "90"), ("688111.SH", "stock", "star", "280"),
    ("430047.BJ", "stock", "bse", "12.5"), ("510300.SH", "etf", "index", "4.0"),
    ("000001.OF", "fund", "mixed", "1.2"), ("003003.OF", "fund", "money", "1.0"),
    ("019547.SH", "bond", "main", "100"), ("513100.SH", "etf", "qdii", "1.5"),
]


def build(url: str, n: int, seed: int) -> None:
    from sqlalchemy import insert

    from brokercare.accounts.models import Account, CashMovement, Position, Trade
    from brokercare.advisory.models import RiskAssessment
    from brokercare.core.database import Base, make_engine
    from brokercare.core.domains import load_all_models
    from brokercare.customers.models import AssessedRisk, BehaviourEvent, Customer
    from brokercare.market.models import Instrument

    load_all_models()
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    with engine.begin() as conn:
        conn.execute(insert(Instrument), [
            {"symbol": s, "code": s[:6], "exchange": s[-2:], "name": s, "kind": k, "board": b,
             "last_price": Decimal(p), "risk_rating": "R3"} for s, k, b, p in SYMBOLS])
    chunk = 100_000
    cities = np.array(["北京", "上海", "深圳", "杭州", "成都", "武汉", "西安", "南京", "长沙", "洛阳"])
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        ids = np.arange(start + 1, start + m + 1)
        age = rng.integers(20, 75, m)
        cash = np.round(np.exp(rng.normal(10.5, 1.6, m)), 2)
        rows_c = [(int(i), f"C{i:09d}", "客户", "MF"[i % 2], f"{2026 - int(a)}-05-01", "x", f"h{i}", "x",
                   f"p{i}", "x", cities[i % 10], cities[i % 10], "职员", "married" if a > 28 else "single",
                   "B001", f"{2015 + i % 10}-03-01", "active", "C3", "ordinary", 1, now.strftime(fmt),
                   now.strftime(fmt)) for i, a in zip(ids, age, strict=True)]
        rows_a = [(int(i), f"A{i:011d}", int(i), "cash", "active", f"{2015 + i % 10}-03-01", "B001",
                   0.00025, float(c), 0.0, "CNY") for i, c in zip(ids, cash, strict=True)]
        k = rng.integers(0, 4, m)
        pos_owner = np.repeat(ids, k)
        sym = rng.integers(0, len(SYMBOLS), len(pos_owner))
        rows_p = []
        seen = set()
        for o, s in zip(pos_owner, sym, strict=True):
            if (o, s) in seen:
                continue
            seen.add((o, s))
            price = float(SYMBOLS[s][3])
            rows_p.append((int(o), SYMBOLS[s][0], float(rng.integers(1, 30) * 100), 0.0,
                           round(price * rng.uniform(0.7, 1.3), 4), "2025-06-01", now.strftime(fmt)))
        t = rng.poisson(4, m)
        tr_owner = np.repeat(ids, t)
        nt = len(tr_owner)
        tsym = rng.integers(0, len(SYMBOLS), nt)
        days = rng.uniform(0, 365, nt)
        rows_t = [(f"T{start}-{j}", int(o), SYMBOLS[s][0], "buy" if j % 2 else "sell",
                   float(SYMBOLS[s][3]), 100.0, float(SYMBOLS[s][3]) * 100, 5.0, 0.0, 0.01,
                   (now - timedelta(days=float(d))).strftime(fmt))
                  for j, (o, s, d) in enumerate(zip(tr_owner, tsym, days, strict=True))]
        e = rng.poisson(8, m)
        ev_owner = np.repeat(ids, e)
        kinds = np.array(["login", "page_view", "search", "content_read"])[rng.integers(0, 4, len(ev_owner))]
        edays = rng.uniform(0, 365, len(ev_owner))
        rows_e = [(int(o), (now - timedelta(days=float(d))).strftime(fmt), kd, "app",
                   "/market" if kd == "page_view" else None, "养老金怎么领" if kd == "search" else None,
                   "子女教育" if kd == "content_read" else None, f"dev{o}" if kd == "login" else None,
                   cities[o % 10] if kd == "login" else None, 30)
                  for o, d, kd in zip(ev_owner, edays, kinds, strict=True)]
        rows_m = [(f"M{i}", int(i), "bank_in", 10000.0, "done", (now - timedelta(days=int(i % 300))).strftime(fmt))
                  for i in ids[::3]]
        rows_r = [(int(i), "C3", 55, "2026-01-01", "2028-01-01", "app") for i in ids]
        with engine.begin() as conn:
            ex = conn.exec_driver_sql
            ex("INSERT INTO customers (id, customer_no, name, gender, birth_date, id_number_enc, "
               "id_number_hash, phone_enc, phone_hash, address_enc, province, city, occupation, "
               "marital_status, branch_code, opened_on, status, risk_level, investor_type, phone_verified, "
               "created_at, updated_at) VALUES (" + ",".join("?" * 22) + ")", rows_c)
            ex("INSERT INTO accounts (id, account_no, customer_id, kind, status, opened_on, branch_code, "
               "commission_rate, cash_balance, frozen_cash, currency) VALUES (" + ",".join("?" * 11) + ")",
               rows_a)
            ex("INSERT INTO positions (account_id, symbol, quantity, available_quantity, cost_price, "
               "opened_on, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
               [(a, s, q, q, c, o, u) for a, s, q, _, c, o, u in rows_p])
            ex("INSERT INTO trades (trade_no, account_id, symbol, side, price, quantity, amount, "
               "commission, stamp_duty, transfer_fee, traded_at) VALUES (" + ",".join("?" * 11) + ")", rows_t)
            ex("INSERT INTO behaviour_events (customer_id, occurred_at, kind, channel, page, query, topic, "
               "device_id, geo_city, duration_s) VALUES (" + ",".join("?" * 10) + ")", rows_e)
            ex("INSERT INTO cash_movements (movement_no, account_id, kind, amount, status, occurred_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", rows_m)
            ex("INSERT INTO risk_assessments (customer_id, level, score, assessed_on, valid_until, channel) "
               "VALUES (?, ?, ?, ?, ?, ?)", rows_r)
            # the customers domain's copy of each latest assessment (one per customer here)
            ex("INSERT INTO assessed_risks (customer_id, assessment_id, level, score, assessed_on, valid_until, "
               "assessments) VALUES (?, ?, ?, ?, ?, ?, 1)",
               [(c, start + k + 1, lv, sc, on, until) for k, (c, lv, sc, on, until, _) in enumerate(rows_r)])
        print(f"  built {start + m:,} customers", flush=True)
    _ = (Account, CashMovement, Position, Trade, BehaviourEvent, Customer, RiskAssessment, AssessedRisk, date)
    engine.dispose()


def naive_profile(session, customer_id: int, now: datetime) -> dict:
    """The per-customer ORM loop a first version would write (a subset of the features)."""
    from sqlalchemy import select

    from brokercare.accounts.models import Account, Position, Trade
    from brokercare.customers.models import BehaviourEvent, Customer
    from brokercare.market.models import Instrument

    c = session.get(Customer, customer_id)
    accounts = session.scalars(select(Account).where(Account.customer_id == c.id)).all()
    cash = sum((a.cash_balance for a in accounts), Decimal("0"))
    mv = Decimal("0")
    by_kind: dict[str, Decimal] = {}
    for a in accounts:
        for p in session.scalars(select(Position).where(Position.account_id == a.id)).all():
            inst = session.get(Instrument, p.symbol)
            v = p.quantity * (inst.last_price or p.cost_price)
            mv += v
            by_kind[inst.kind] = by_kind.get(inst.kind, Decimal("0")) + v
    trades = [t for a in accounts for t in session.scalars(
        select(Trade).where(Trade.account_id == a.id, Trade.traded_at >= now - timedelta(days=365))).all()]
    events = session.scalars(select(BehaviourEvent).where(
        BehaviourEvent.customer_id == c.id, BehaviourEvent.occurred_at >= now - timedelta(days=365))).all()
    aum = cash + mv
    tier = ("vip" if aum >= 50_000_000 else "potential" if aum >= 5_000_000 else
            "mass" if aum >= 500_000 else "long_tail")
    return {
        "aum": aum, "tier": tier, "cash_share": cash / aum if aum else 0,
        "stock_share": by_kind.get("stock", 0) / aum if aum else 0,
        "trade_count_30d": sum(1 for t in trades if t.traded_at >= now - timedelta(days=30)),
        "trade_count_365d": len(trades),
        "login_count_30d": sum(1 for e in events if e.kind == "login" and e.occurred_at >= now - timedelta(days=30)),
    }


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=2_000, help="customers for the naive baseline")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", type=Path, help="reuse this SQLite file if it exists (else build it)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_profiles_"))
    os.environ.setdefault("BROKERCARE_DATA_DIR", str(tmp))
    os.environ.setdefault("BROKERCARE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    db = args.db or tmp / "bench.db"
    url = f"sqlite:///{db}"
    if not db.exists():
        t0 = time.perf_counter()
        print(f"building a synthetic brokerage of {args.customers:,} customers in {db} …", flush=True)
        build(url, args.customers, args.seed)
        print(f"  built in {time.perf_counter() - t0:.1f} s")

    from sqlalchemy.orm import Session

    from brokercare.core.database import make_engine, set_engine
    from brokercare.customers import batch
    from brokercare.customers.engine import AsOf
    from brokercare.customers.service import refresh_profile

    engine = make_engine(url)
    set_engine(engine)
    n = batch.customer_count(engine)
    as_of = AsOf.now()

    cpu0 = _cpu()
    result = batch.run(engine, as_of=as_of, workers=args.workers, publish=False)
    cpu = _cpu() - cpu0
    bulk_rate = result.per_second
    print(f"bulk: {result.customers:,} profiles in {result.seconds:.1f} s = {bulk_rate:,.0f} customers/s "
          f"({args.workers} workers, {result.partitions} partitions)")
    print(f"  CPU: {cpu:.1f} s over all processes = {result.customers / cpu:,.0f} customers per CPU-second "
          f"(on an idle {args.workers}-core machine: about {cpu / args.workers:.0f} s)")

    rng = np.random.default_rng(args.seed)
    sample = sorted(rng.choice(np.arange(1, n + 1), size=min(args.sample, n), replace=False).tolist())
    with Session(engine) as session:
        t0, c0 = time.perf_counter(), _cpu()
        for cid in sample:
            naive_profile(session, cid, as_of.at)
        naive = len(sample) / (time.perf_counter() - t0)
        naive_cpu = len(sample) / (_cpu() - c0)
    print(f"naive per-customer ORM loop: {naive:,.0f} customers/s on {len(sample):,} customers "
          f"(computes only 7 of the {len(__import__('brokercare.customers.features', fromlist=['x']).FEATURES)} features)")

    inc_sample = sample[: min(300, len(sample))]
    with Session(engine) as session:
        t0 = time.perf_counter()
        for cid in inc_sample:
            refresh_profile(session, cid, as_of=as_of)
        session.commit()
        inc = len(inc_sample) / (time.perf_counter() - t0)
    print(f"incremental (one-customer partition, all features, stored): {inc:,.0f} customers/s; "
          f"{1000 / inc:.1f} ms per event")
    print(f"naive: {naive_cpu:,.0f} customers per CPU-second; CPU ratio bulk / naive: "
          f"{result.customers / cpu / naive_cpu:,.1f}x")
    print(f"ratio bulk / naive: {bulk_rate / naive:,.0f}x; 1,000,000 customers would take "
          f"{1_000_000 / bulk_rate:.0f} s in bulk, {1_000_000 / naive / 3600:.1f} h naively")
    engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
