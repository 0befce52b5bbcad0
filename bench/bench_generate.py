"""Demo-brokerage generation + load throughput into SQLite, against a row-by-row ORM baseline.

    python bench/bench_generate.py                  # 1,000,000 customers (target: <= 180 s)
    python bench/bench_generate.py --customers 100000 --baseline 2000

The bulk run writes the whole brokerage (customers, accounts, margin contracts, positions, a year
of orders, trades, cash movements, behaviour events, risk assessments, family, life events). The
baseline writes only customers and their cash accounts, one ORM object at a time, on a sample,
so the printed ratio understates the difference.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from brokercare.accounts.models import Account
from brokercare.core import migrate
from brokercare.core.database import make_engine
from brokercare.customers.models import Customer
from brokercare.demo.brokerage import generate_brokerage
from brokercare.market.service import load_instruments
from brokercare.security.service import blind_index, get_cipher


def _fresh(tmp: Path, name: str):
    engine = make_engine(f"sqlite:///{tmp / name}")
    with engine.begin() as conn:
        migrate.upgrade(conn, "heads")
    return engine


def bulk(tmp: Path, customers: int, workers: int | None) -> tuple[float, float, dict]:
    engine = _fresh(tmp, "bulk.db")
    load_instruments(engine)
    t, cpu = time.perf_counter(), os.times()
    summary = generate_brokerage(engine, customers=customers, seed=42, as_of=date(2026, 11, 27),
                                 workers=workers, run_domain_hooks=False)
    elapsed, after = time.perf_counter() - t, os.times()
    engine.dispose()
    used = sum(after[:4]) - sum(cpu[:4])  # user + system, this process and its workers
    return elapsed, used, dict(summary.counts)


def naive(tmp: Path, customers: int) -> float:
    """One customer and its account at a time through the ORM, as a first version would."""
    engine = _fresh(tmp, "naive.db")
    rng = random.Random(42)
    t, cpu = time.perf_counter(), os.times()
    with Session(engine) as s:
        cipher = get_cipher(s)
        for i in range(customers):
            born = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 15000))
            id_number = f"110105{born:%Y%m%d}{rng.randrange(1000):03d}X"
            phone = f"139{rng.randrange(10**8):08d}"
            c = Customer(customer_no=f"N{i:011d}", name="王" + rng.choice("伟芳娜敏静"),
                         gender=rng.choice("MF"), birth_date=born,
                         id_number_enc=cipher.encrypt(id_number), id_number_hash=blind_index(id_number + str(i)),
                         phone_enc=cipher.encrypt(phone), phone_hash=blind_index(phone),
                         address_enc=cipher.encrypt("北京市朝阳区建国路88号"), province="北京", city="北京",
                         occupation="工程师", branch_code="110501", opened_on=date(2020, 1, 2))
            s.add(c)
            s.flush()
            card = f"6222021234{rng.randrange(10**9):09d}"
            s.add(Account(account_no=f"1{i:011d}", customer_id=c.id, kind="cash", opened_on=c.opened_on,
                          branch_code="110501", commission_rate=Decimal("0.00025"),
                          cash_balance=Decimal(rng.randrange(100, 10**6)), bank_name="工商银行",
                          bank_card_enc=cipher.encrypt(card), bank_card_hash=blind_index(card)))
            s.flush()
        s.commit()
    elapsed, after = time.perf_counter() - t, os.times()
    engine.dispose()
    return customers / elapsed, customers / (sum(after[:2]) - sum(cpu[:2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=2_000, help="customers in the naive sample")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_generate_") as d:
        tmp = Path(d)
        os.environ["BROKERCARE_DATA_DIR"] = str(tmp)
        os.environ.setdefault("BROKERCARE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
        naive_rate, naive_cpu_rate = naive(tmp, args.baseline)
        seconds, cpu, counts = bulk(tmp, args.customers, args.workers)
        rows = sum(counts.values())
        rate = args.customers / seconds
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end "
              f"(other processes compete for the cores when it is above {os.cpu_count()})")
        print(f"bulk:     {args.customers:,} customers, {rows:,} rows in {seconds:.1f} s "
              f"= {rate:,.0f} customers/s, {rows / seconds:,.0f} rows/s "
              f"(target 1,000,000 in <= 180 s)")
        print(f"          CPU {cpu:.1f} s over all processes = {args.customers / cpu:,.0f} customers per "
              f"CPU-second; on {os.cpu_count()} idle cores ~{cpu / (os.cpu_count() or 1):.0f}-{cpu:.0f} s")
        for table, n in sorted(counts.items()):
            print(f"          {table:18s} {n:>12,}")
        print(f"baseline: {args.baseline:,} customers + cash accounts row by row through the ORM "
              f"= {naive_rate:,.0f} customers/s, {naive_cpu_rate:,.0f} per CPU-second")
        print(f"ratio:    {rate / naive_rate:,.1f}x customers/s wall-clock, "
              f"{(args.customers / cpu) / naive_cpu_rate:,.1f}x per CPU-second "
              f"(bulk writes ~{rows / args.customers:.0f} rows per customer, the baseline 2)")


if __name__ == "__main__":
    main()
