"""The T+1 fund confirmation (``accounts.fund_orders_confirm``): orders confirmed per second in
transactions of 500, beside the same work done one transaction per order, measured in the same run.

Run: .venv/bin/python bench/bench_funds.py [--orders 2000] [--pg URL]

N customers each subscribe 10,000 元 to 华夏沪深300ETF联接A twice (at the real NAVs of 2026-01-13
and 2026-01-14 from the shipped excerpt), through the same service the API calls (suitability
through advisory, ledgered). Printed: placing (one commit per order, as the API does), the
baseline (the first day's orders confirmed one transaction each), and the job's path (the second
day's orders in transactions of 500), with the ratio. Each confirmation moves cash, adds units
and a lot, writes a cash movement and appends to the ledger.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources

from sqlalchemy import text
from sqlalchemy.orm import Session

from brokercare.accounts import fund_confirmation, funds
from brokercare.accounts.models import Account
from brokercare.advisory import service as advisory
from brokercare.advisory.models import RiskAssessment
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import Base, make_engine, session_scope, set_engine
from brokercare.core.domains import load_all_models
from brokercare.core.settings import reset_settings
from brokercare.customers.models import Customer
from brokercare.market.reference import shipped_instruments
from brokercare.market.service import load_instruments

DAYS = (date(2026, 1, 13), date(2026, 1, 14))


def _engine(pg: str | None):
    if pg is None:
        url = f"sqlite:///{os.environ['BROKERCARE_DATA_DIR']}/bench.db"
        return make_engine(url), None
    schema = f"bench_funds_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in pg else "?"
    return make_engine(f"{pg}{sep}options=-csearch_path%3D{schema}"), (admin, schema)


def _brokerage(engine, n: int) -> list[int]:
    load_all_models()
    Base.metadata.create_all(engine)
    set_engine(engine)
    load_instruments(engine, [r for r in shipped_instruments() if r["symbol"] == "000051.OF"])
    path = resources.files("brokercare.accounts").joinpath("data/fund_nav/excerpt_2025-09_2026-02.csv")
    with Session(engine) as s:
        fund_confirmation.load_navs(s, fund_confirmation.read_nav_file(path), source=path.name)
        customers = [Customer(customer_no=f"C{i:08d}", name=f"客户{i}", gender="F",
                              birth_date=date(1980, 1, 1), id_number_enc="enc", id_number_hash=f"id{i}",
                              phone_enc="enc", phone_hash=f"ph{i}", province="广东", city="深圳",
                              occupation="工程师", branch_code="B001", opened_on=date(2020, 1, 2))
                     for i in range(1, n + 1)]
        s.add_all(customers)
        s.flush()
        for c in customers:
            s.add(Account(account_no=f"C{c.id:09d}", customer_id=c.id, kind="cash", opened_on=date(2020, 1, 2),
                          branch_code="B001", commission_rate=Decimal("0.00025"), cash_balance=Decimal("100000")))
            s.add(RiskAssessment(customer_id=c.id, level="C4", score=60, assessed_on=date(2025, 6, 1),
                                 valid_until=date(2028, 5, 31)))
        s.commit()
        return [c.id for c in customers]


def _place(engine, ids: list[int], day: date) -> float:
    at = datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI).astimezone(UTC)
    started = time.perf_counter()
    with Session(engine) as s:
        for cid in ids:
            funds.place_subscription(s, customer_id=cid, symbol="000051", amount="10000",
                                     idempotency_key=f"bench-{day}", suitability=advisory, now=at)
            s.commit()
    return time.perf_counter() - started


def _confirm(day: date, batch: int) -> tuple[float, dict]:
    started = time.perf_counter()
    counts = fund_confirmation.confirm_in_batches(session_scope, day, batch=batch)
    return time.perf_counter() - started, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (a fresh schema is used and dropped)")
    args = parser.parse_args()
    os.environ.setdefault("BROKERCARE_DATA_DIR", tempfile.mkdtemp(prefix="bench-funds-"))
    reset_settings()
    engine, pg = _engine(args.pg)
    try:
        ids = _brokerage(engine, args.orders)
        placed = sum(_place(engine, ids, day) for day in DAYS)
        one_by_one, c1 = _confirm(DAYS[1], batch=1)       # confirms the 01-13 orders
        batched, c2 = _confirm(date(2026, 1, 15), batch=500)  # confirms the 01-14 orders
    finally:
        engine.dispose()
        if pg is not None:
            admin, schema = pg
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    n = args.orders
    assert c1["confirmed"] == n and c2["confirmed"] == n, (c1, c2)
    backend = "PostgreSQL" if args.pg else "SQLite"
    print(f"{backend}, {n:,} orders a day")
    print(f"  placing (one commit each):              {2 * n / placed:8.0f} orders/s  "
          f"({placed / (2 * n) * 1000:.2f} ms each)")
    print(f"  baseline: confirm, one transaction each: {n / one_by_one:8.0f} orders/s  "
          f"({one_by_one / n * 1000:.2f} ms each)")
    print(f"  the job: confirm, 500 per transaction:  {n / batched:8.0f} orders/s  "
          f"({batched / n * 1000:.2f} ms each)  ratio {one_by_one / batched:.2f}x")


if __name__ == "__main__":
    main()
