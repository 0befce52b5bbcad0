"""Daily post-close reports at scale: the report data for N customers and PDFs per second per core.

1. Report data: a generated brokerage-shaped partition set (N customers, ~5 holdings each over
   4,500 instruments, 6 % of holdings traded today, 5 % with margin debt, IPO notes) computed by
   the vectorised engine (``engagement.daily.compute``) in partitions, against a baseline in the
   same run: the same arithmetic as a plain per-customer Python loop over a sample, extrapolated.
   The day's P&L of the two must agree on the sample. The Chinese documents (``documents``) are
   timed too: the nightly job writes them for customers who opted in.
2. PDFs: the same realistic report rendered by ReportLab and by WeasyPrint (the HTML page), CPU
   seconds per PDF on this process's core; the ratio is ReportLab against WeasyPrint.

Run at ``nice -n 10``; the machine is shared, so report its load with the numbers.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date

import numpy as np
import polars as pl
from sqlalchemy import Engine

from brokercare.engagement.daily import DailyInputs, compute
from brokercare.engagement.render import pdf
from brokercare.engagement.wording import documents

DAY, NEXT = date(2026, 6, 16), date(2026, 6, 17)


def generate(n: int, first_id: int, rng: np.random.Generator, n_symbols: int = 4500) -> DailyInputs:
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    per = rng.poisson(4, n) + 1
    owner = np.repeat(ids, per)
    sym_idx = rng.integers(0, n_symbols, owner.size)
    symbols = np.array([f"{600000 + i:06d}.SH" for i in range(n_symbols)], dtype=object)
    holdings = pl.DataFrame({"customer_id": owner, "account_kind": "cash", "symbol": symbols[sym_idx],
                             "quantity": (rng.integers(1, 50, owner.size) * 100).astype(np.float64),
                             "cost_price": rng.uniform(3, 80, owner.size)}).unique(["customer_id", "symbol"])
    traded = holdings.sample(fraction=0.06, seed=1)
    trades = traded.select("customer_id", "account_kind", "symbol",
                           bought=pl.col("quantity") / 2, bought_amount=pl.col("quantity") / 2 * pl.col("cost_price"),
                           sold=pl.lit(0.0), sold_amount=pl.lit(0.0), fees=pl.lit(5.0))
    prev = rng.uniform(3, 80, n_symbols)
    facts = pl.DataFrame({"symbol": symbols, "name": [f"股票{i}" for i in range(n_symbols)], "kind": "stock",
                          "board": "main", "exchange": "SH", "risk_rating": rng.choice(["R3", "R4", "R5"], n_symbols).tolist(),
                          "is_st": rng.random(n_symbols) < 0.02, "near_delisting": rng.random(n_symbols) < 0.005,
                          "prev_close": prev, "close": np.round(prev * rng.normal(1, 0.02, n_symbols), 2),
                          "limit_down_days": rng.integers(0, 3, n_symbols).astype(np.int16)})
    recipients = pl.DataFrame({"customer_id": ids, "customer_no": [f"C{i:08d}" for i in ids],
                               "name": "客户", "risk_level": rng.choice(["C2", "C3", "C4"], n).tolist(),
                               "investor_type": "ordinary"})
    cash = pl.DataFrame({"customer_id": ids, "account_kind": "cash", "currency": "CNY", "n": 1,
                         "cash": rng.integers(0, 50_000_000, n)})
    m = ids[rng.random(n) < 0.05]
    margin = pl.DataFrame({"customer_id": m, "financing": rng.integers(0, 20_000_000, m.size), "lending": 0,
                           "interest": 0, "credit_limit": 50_000_000, "warning_line": 1.4,
                           "liquidation_line": 1.3, "contract_end": "2027-06-30"})
    notes = pl.DataFrame({"customer_id": ids[: n // 10], "kind": "subscribe", "code": "732999", "name": "华宏科技",
                          "shares": 1000, "price": 18.88, "amount": 18880.0, "won": False})
    return DailyInputs(recipients, holdings, trades, facts, cash, margin, notes)


def loop_reports(inp: DailyInputs, sample: set[int]) -> dict[int, dict]:
    """The baseline: the same report numbers (P&L, weights, drawdowns, flags, cash, margin) as a
    per-customer Python loop over row dicts, the way a first version would write it."""
    facts = {r["symbol"]: r for r in inp.facts.iter_rows(named=True)}
    trades = {(r["customer_id"], r["symbol"]): r for r in inp.trades.iter_rows(named=True)}
    held: dict[int, list[dict]] = {}
    for r in inp.holdings.iter_rows(named=True):
        held.setdefault(r["customer_id"], []).append(r)
    cash = {r["customer_id"]: r["cash"] / 100 for r in inp.cash.iter_rows(named=True)}
    debt = {r["customer_id"]: r for r in inp.margin.iter_rows(named=True)}
    level = {r["customer_id"]: r["risk_level"] for r in inp.recipients.iter_rows(named=True)}
    none = {"bought": 0.0, "bought_amount": 0.0, "sold": 0.0, "sold_amount": 0.0, "fees": 0.0}
    out = {}
    for cid in sample:
        lines = []
        for r in held.get(cid, []):
            f, t = facts[r["symbol"]], trades.get((cid, r["symbol"]), none)
            start = r["quantity"] - t["bought"] + t["sold"]
            mv = r["quantity"] * f["close"]
            pnl = mv - start * f["prev_close"] - t["bought_amount"] + t["sold_amount"] - t["fees"]
            lines.append({"pnl": pnl, "mv": mv, "drawdown": f["close"] / r["cost_price"] - 1,
                          "above": int(f["risk_rating"][1]) > int(level[cid][1]),
                          "high": f["is_st"] or f["near_delisting"] or f["limit_down_days"] >= 2})
        total = sum(x["mv"] for x in lines)
        for x in lines:
            x["weight"] = x["mv"] / total if total else None
        m = debt.get(cid)
        ratio = (cash.get(cid, 0.0) + 0) / ((m["financing"] + m["lending"] + m["interest"]) / 100) \
            if m and m["financing"] else None
        out[cid] = {"day_pnl": sum(x["pnl"] for x in lines), "market_value": total, "ratio": ratio,
                    "high_risk": sum(x["high"] for x in lines), "lines": lines}
    return out


def bench_data(n: int, partition: int, sample: int) -> None:
    rng = np.random.default_rng(7)
    parts = [generate(min(partition, n - lo), lo + 1, rng) for lo in range(0, n, partition)]
    holdings = sum(p.holdings.height for p in parts)
    t0 = time.perf_counter()
    frames = [compute(p) for p in parts]
    engine_s = time.perf_counter() - t0
    first = parts[0]
    sample_ids = set(first.recipients["customer_id"].head(sample).to_list())
    mine = pl.col("customer_id").is_in(list(sample_ids))
    only = DailyInputs(first.recipients.filter(mine), first.holdings.filter(mine), first.trades.filter(mine),
                       first.facts, first.cash, first.margin, first.notes)
    t0 = time.perf_counter()
    baseline = loop_reports(only, sample_ids)
    loop_s = time.perf_counter() - t0
    got = dict(frames[0].summary.filter(pl.col("customer_id").is_in(list(sample_ids)))
               .select("customer_id", "day_pnl").iter_rows())
    worst = max(abs(got[c] - baseline[c]["day_pnl"]) for c in sample_ids)
    t0 = time.perf_counter()
    docs = sum(1 for _ in documents(frames[0], DAY, NEXT))
    doc_s = time.perf_counter() - t0
    per_loop = loop_s / len(sample_ids)
    print(f"report data: {n:,} customers, {holdings:,} holdings, partitions of {partition:,}")
    print(f"  vectorised engine      {engine_s:8.2f} s   {n / engine_s:>10,.0f} customers/s"
          f"   -> 1,000,000 in {engine_s * 1_000_000 / n:6.1f} s (extrapolated)")
    print(f"  per-customer loop      {loop_s:8.2f} s on {len(sample_ids):,}   {1 / per_loop:>10,.0f} customers/s"
          f"   -> 1,000,000 in {per_loop * 1_000_000:6.1f} s (extrapolated; the baseline)")
    print(f"  ratio                  {per_loop * n / engine_s:8.1f}x   (largest P&L difference on the sample: {worst:.2e} yuan)")
    print(f"  Chinese documents      {docs / doc_s:>10,.0f} per second ({docs:,} in {doc_s:.2f} s)")


def load_db(parts: list[DailyInputs], url: str):
    """Write the generated partitions into a fresh database with core bulk inserts."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from brokercare.accounts.models import Account, MarginContract, Position, Trade
    from brokercare.core.database import Base, make_engine
    from brokercare.core.domains import load_all_models
    from brokercare.customers.models import Customer
    from brokercare.market.models import DailyBar, Instrument

    load_all_models()
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    facts = parts[0].facts
    at = datetime(2026, 6, 16, 3, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(Instrument), [
            {"symbol": r["symbol"], "code": r["symbol"][:6], "exchange": "SH", "name": r["name"], "kind": "stock",
             "board": "main", "is_st": r["is_st"], "risk_rating": r["risk_rating"], "last_price": r["close"]}
            for r in facts.iter_rows(named=True)])
        conn.execute(insert(DailyBar), [{"symbol": r["symbol"], "day": d, **dict.fromkeys(("open", "high", "low", "close"),
                                                                                       round(r[c], 2)), "volume": 0.0}
                                        for r in facts.iter_rows(named=True)
                                        for d, c in ((DAY, "close"), (date(2026, 6, 15), "prev_close"))])
        for p in parts:
            conn.execute(insert(Customer), [
                {"id": c, "customer_no": no, "name": "客户", "gender": "M", "birth_date": date(1980, 1, 1),
                 "id_number_enc": "x", "id_number_hash": f"h{c}", "phone_enc": "x", "phone_hash": f"p{c}",
                 "province": "上海", "city": "上海", "occupation": "职员", "branch_code": "SH001",
                 "opened_on": date(2020, 1, 2), "risk_level": lv}
                for c, no, lv in p.recipients.select("customer_id", "customer_no", "risk_level").iter_rows()])
            cash = dict(p.cash.select("customer_id", "cash").iter_rows())
            margin = p.margin["customer_id"].to_list()
            conn.execute(insert(Account), [
                {"id": c, "account_no": f"A{c:09d}", "customer_id": c, "kind": "cash", "opened_on": date(2020, 1, 2),
                 "branch_code": "SH001", "commission_rate": 0.00025, "cash_balance": cash[c] / 100}
                for c in p.recipients["customer_id"].to_list()] + [
                {"id": 10**8 + c, "account_no": f"M{c:09d}", "customer_id": c, "kind": "margin",
                 "opened_on": date(2020, 1, 2), "branch_code": "SH001", "commission_rate": 0.00025,
                 "cash_balance": 0} for c in margin])
            conn.execute(insert(MarginContract), [
                {"contract_no": f"RZ{c:09d}", "account_id": 10**8 + c, "credit_limit": 500000, "financing_rate": 0.06,
                 "lending_rate": 0.08, "warning_line": 1.4, "liquidation_line": 1.3, "withdrawal_line": 3.0,
                 "financing_debt": f / 100, "start_on": date(2025, 1, 2), "end_on": date(2027, 6, 30)}
                for c, f in p.margin.select("customer_id", "financing").iter_rows()])
            conn.execute(insert(Position), [
                {"account_id": c, "symbol": sym, "quantity": q, "available_quantity": q, "cost_price": round(cp, 4)}
                for c, sym, q, cp in p.holdings.select("customer_id", "symbol", "quantity", "cost_price").iter_rows()])
            conn.execute(insert(Trade), [
                {"trade_no": f"T{c}-{sym}", "account_id": c, "symbol": sym, "side": "buy", "price": round(a / q, 4),
                 "quantity": q, "amount": round(a, 2), "commission": fee, "stamp_duty": 0, "transfer_fee": 0,
                 "traded_at": at}
                for c, sym, q, a, fee in p.trades.select("customer_id", "symbol", "bought", "bought_amount", "fees")
                .iter_rows()])
    return engine


def bench_night(engine: Engine, partition: int) -> None:
    """The whole night for every customer (reads, engine, Chinese documents): one process, then a
    local Dask cluster of two worker processes; the documents must be the same."""
    from dask.distributed import Client, LocalCluster

    from brokercare.engagement.nightly import night

    t0 = time.perf_counter()
    one = sorted((d for docs in night(engine, DAY, subscribers_only=False, partition=partition) for d in docs),
                 key=lambda d: d[0])
    one_s = time.perf_counter() - t0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t0 = time.perf_counter()
        two = sorted((d for docs in night(engine, DAY, subscribers_only=False, partition=partition, client=client)
                      for d in docs), key=lambda d: d[0])
        two_s = time.perf_counter() - t0
    print(f"whole night, documents for all {len(one):,} customers: one process {one_s:.1f} s "
          f"({len(one) / one_s:,.0f}/s); Dask, 2 worker processes {two_s:.1f} s ({len(two) / two_s:,.0f}/s); "
          f"ratio {one_s / two_s:.2f}x; same documents: {one == two}")


def bench_db(n: int, partition: int, url: str | None, with_night: bool) -> None:
    """End to end on a database: the batch reads through the services, then the engine."""
    import tempfile

    from brokercare.engagement.service import build
    from brokercare.market.service import day_facts

    rng = np.random.default_rng(11)
    parts = [generate(min(partition, n - lo), lo + 1, rng) for lo in range(0, n, partition)]
    url = url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    t0 = time.perf_counter()
    engine = load_db(parts, url)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with engine.connect() as conn:
        facts = day_facts(conn, DAY)
        rows = sum(build(conn, DAY, lo=lo + 1, hi=lo + partition, facts=facts).summary.height
                   for lo in range(0, n, partition))
    run_s = time.perf_counter() - t0
    print(f"end to end on {engine.dialect.name}: {n:,} customers loaded in {load_s:.1f} s; reads + engine "
          f"{run_s:.2f} s = {rows / run_s:,.0f} customers/s -> 1,000,000 in {run_s * 1_000_000 / rows:.0f} s "
          f"(extrapolated)")
    if with_night:
        bench_night(engine, partition)
    engine.dispose()


def sample_doc() -> dict:
    holdings = [{"symbol": f"60{i:04d}.SH", "name": name, "quantity": 1000.0, "close": 12.3 + i,
                 "day_change": 0.012 * (i - 3), "market_value": 12300.0 * (i + 1), "weight": w,
                 "drawdown": -0.05 * i, "day_pnl": 150.0 * (i - 3), "risk_rating": "R4",
                 "health": ["较成本下跌 12.0%，请留意。"] if i == 4 else []}
                for i, (name, w) in enumerate([("贵州茅台", 0.35), ("宁德时代", 0.2), ("招商银行", 0.15),
                                               ("中国平安", 0.12), ("ST浪莎", 0.1), ("格力电器", 0.08)])]
    return {"customer_no": "C00000001", "name": "李霞", "day": DAY.isoformat(), "next_day": NEXT.isoformat(),
            "risk_level": "C3", "summary": {"day_pnl": 734.65, "day_return": 0.0033, "market_value": 216650.0,
                                            "cash": 50000.0, "total_assets": 266650.0, "holdings": 6},
            "headline": "今日您的持仓合计盈利 734.65元，收益率 +0.33%。收盘后股票及基金市值 21.66万元，现金 5.00万元，总资产 26.66万元。",
            "drivers": ["贵州茅台（当日涨跌 +2.00%）盈利 3,000.00元。", "宁德时代（当日涨跌 -1.00%）亏损 1,410.25元，今日有买卖。"],
            "contributors": [{"name": h["name"], "symbol": h["symbol"], "day_pnl": h["day_pnl"]} for h in holdings],
            "holdings": holdings, "high_risk": ["ST浪莎为 ST 股票（其他风险警示），涨跌幅限制更严，波动风险较大。"],
            "margin": {"ratio": 1.33, "state": "below_warning", "sentence": "信用账户维持担保比例 133.33%，已低于警戒线（警戒线 140%，平仓线 130%）。"},
            "notes": ["6月17日可申购新股华宏科技（申购代码 732999），发行价 18.88 元，按您的额度最多可申购 5,000 股。"]}


def bench_pdf(count: int) -> None:
    doc = sample_doc()
    rates = {}
    for renderer in ("weasyprint", "reportlab"):
        pdf(doc, renderer)  # warm-up: font parsing, template compilation
        cpu0, wall0 = time.process_time(), time.perf_counter()
        size = sum(len(pdf(doc, renderer)) for _ in range(count))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rates[renderer] = count / cpu
        print(f"  {renderer:<11} {count / cpu:7.1f} PDFs/s per core (CPU)   {count / wall:7.1f}/s wall   "
              f"{size / count / 1024:6.1f} KiB each")
    print(f"  ratio reportlab / weasyprint (baseline): {rates['reportlab'] / rates['weasyprint']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--partition", type=int, default=50_000)
    ap.add_argument("--sample", type=int, default=5_000)
    ap.add_argument("--pdfs", type=int, default=40)
    ap.add_argument("--db", type=int, default=0, help="also run end to end on a database of this many customers")
    ap.add_argument("--db-url", default=None, help="database for --db (default: a fresh SQLite file)")
    ap.add_argument("--night", action="store_true", help="with --db: the whole night, one process and Dask")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)")
    bench_data(args.customers, args.partition, args.sample)
    if args.db:
        bench_db(args.db, args.partition, args.db_url, args.night)
    print("PDFs of one realistic report (6 holdings, 2 charts, CJK font subset embedded):")
    bench_pdf(args.pdfs)


if __name__ == "__main__":
    main()
