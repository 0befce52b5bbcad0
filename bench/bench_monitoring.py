"""Monitoring evaluator at scale: 1,000,000 accounts, 5,000,000 positions, 5,400 symbols.

Times one full snapshot (holding alerts + margin ratios + 60-minute crossing forecast) with the
vectorised evaluator, a straightforward pandas implementation of the same checks, and a per-account
Python loop on a 10,000-account sample; prints the ratios and the memory of the columnar book.

    .venv/bin/python bench/bench_monitoring.py [--accounts 1000000] [--positions 5000000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from brokercare.monitoring.engine import Book, Evaluator, MarketInfo, Snapshot
from brokercare.monitoring.forecast import (
    RiskModel,
    crossing_probability,
    session_fraction,
    session_variance_curve,
)


def make_book(n_acc: int, n_pos: int, n_sym: int, margin_share: float, rng) -> Book:
    popularity = 1.0 / np.arange(1, n_sym + 1) ** 0.8
    popularity /= popularity.sum()
    acc = rng.integers(0, n_acc, size=int(n_pos * 1.08))
    sym = rng.choice(n_sym, size=acc.size, p=popularity)
    key = np.unique(acc.astype(np.int64) * n_sym + sym)[:n_pos]
    acc, sym = (key // n_sym).astype(np.int32), (key % n_sym).astype(np.int32)
    prev = rng.lognormal(2.5, 0.8, n_sym)
    qty = (rng.integers(1, 50, acc.size) * 100).astype(np.float64)
    cost = prev[sym] * rng.lognormal(0, 0.15, acc.size)
    n_m = int(n_acc * margin_share)
    margin_rows = np.sort(rng.choice(n_acc, n_m, replace=False))
    mv = np.bincount(acc, weights=qty * prev[sym], minlength=n_acc)[margin_rows]
    cash = rng.uniform(0, 0.2, n_m) * mv
    debt = (mv + cash) / rng.uniform(1.3, 3.0, n_m)
    # one margin account in ten has sold a stock short (融券): half its liabilities are shares owed
    short_rows = np.sort(rng.choice(n_m, n_m // 10, replace=False))
    short_sym = rng.choice(n_sym, short_rows.size, p=popularity).astype(np.int32)
    short_qty = np.maximum(np.round(debt[short_rows] / 2 / prev[short_sym], -2), 100.0)
    debt[short_rows] = np.maximum(debt[short_rows] - short_qty * prev[short_sym], 0.0)
    return Book(
        symbols=np.array([f"{i:06d}.SZ" for i in range(n_sym)]),
        names=np.array([f"股票{i}" for i in range(n_sym)]),
        account_ids=np.arange(1, n_acc + 1, dtype=np.int64),
        customer_ids=np.arange(1, n_acc + 1, dtype=np.int64),
        pos_account=acc,
        pos_symbol=sym,
        qty=qty,
        cost=cost,
        move_pct=np.where(rng.random(n_acc) < 0.1, 0.03, 0.05),
        window_min=np.where(rng.random(n_acc) < 0.1, 30, 10).astype(np.int16),
        volume_ratio=np.full(n_acc, 3.0),
        limit_alerts=np.ones(n_acc, bool),
        margin_rows=margin_rows,
        margin_cash=cash,
        margin_debt=debt,
        short_rows=short_rows,
        short_symbol=short_sym,
        short_qty=short_qty,
        warning_line=np.full(n_m, 1.4),
        liquidation_line=np.full(n_m, 1.3),
        withdrawal_line=np.full(n_m, 3.0),
        topup_days=np.full(n_m, 2, np.int16),
        contract_ids=np.arange(n_m, dtype=np.int64),
    ), prev


def market(prev, rng) -> MarketInfo:
    n = prev.size
    model = RiskModel(0.012, rng.uniform(0.6, 1.4, n), rng.uniform(0.012, 0.03, n))
    up = np.floor(prev * 1.1 * 100 + 0.5) / 100
    down = np.floor(prev * 0.9 * 100 + 0.5) / 100
    return MarketInfo(
        date(2026, 6, 16),
        prev,
        up,
        down,
        rng.lognormal(15, 1, n),
        model,
        variance_curve=session_variance_curve(),
    )


#: The snapshots start at 10:00 (trading minute 30): the baselines price the same next hour.
HORIZON = session_fraction(session_variance_curve(), 30, 90)


def snapshots(prev, avg_volume, rng, count: int, start: datetime):
    price = prev.copy()
    vol = avg_volume * 30 / 240  # 10:00: half an hour traded
    for i in range(count):
        price = np.round(price * np.exp(rng.normal(0, 0.0004, prev.size)), 2)
        movers = rng.choice(prev.size, 30, replace=False)
        price[movers] = np.round(price[movers] * 0.996, 2)  # a few names slide 0.4 % a tick
        vol = vol + avg_volume / 4800 * rng.lognormal(0, 0.5, prev.size)
        vol[movers] += avg_volume[movers] / 200  # the sliding names trade heavily
        yield Snapshot(start + timedelta(seconds=3 * i), price.copy(), vol.copy())


def pandas_snapshot(
    pos: pd.DataFrame, margin: pd.DataFrame, hist: pd.DataFrame, snap, info, model
) -> int:
    """The same checks written the obvious pandas way (merge / groupby per snapshot)."""
    quotes = pd.DataFrame(
        {
            "sym": np.arange(snap.prices.size),
            "price": snap.prices,
            "vol": snap.volumes,
            "up": info.limit_up,
            "down": info.limit_down,
            "beta": model.beta,
            "idio": model.idio_vol,
        }
    )
    win = hist.groupby("sym").agg(hi=("price", "max"), lo=("price", "min"))
    q = quotes.join(win, on="sym")
    df = pos.merge(q, on="sym", how="left")
    rise = df.price / df.lo - 1
    fall = df.price / df.hi - 1
    moves = (rise >= df.move_pct) | (-fall >= df.move_pct)
    limits = (df.price >= df.up) | (df.price <= df.down)
    df["value"] = df.qty * df.price
    df["expo"] = df.value * df.beta
    df["idio_v"] = (df.value * df.idio) ** 2
    g = (
        df[df.is_margin]
        .groupby("acc")
        .agg(value=("value", "sum"), expo=("expo", "sum"), idio=("idio_v", "sum"))
    )
    m = margin.join(g, on="acc")
    m["debt"] = m.debt + m.short_qty * snap.prices[m.short_sym.to_numpy()]
    ratio = (m.cash + m.value) / m.debt
    sigma = np.sqrt(model.factor_vol**2 * m.expo**2 + m.idio) / m.value
    p = crossing_probability(
        m.value.to_numpy(), sigma.to_numpy(), m.cash.to_numpy(), m.debt.to_numpy(), 1.4, HORIZON
    )
    return int(moves.sum() + limits.sum() + (ratio < 1.4).sum() + (p > 0.5).sum())


def loop_snapshot(accounts: list, prices, hist_hi, hist_lo, info, model) -> int:
    """Per-account Python loop: what a first implementation looks like."""
    fired = 0
    for a in accounts:
        value = expo = idio = 0.0
        for sym, qty, move_pct in a["positions"]:
            p = prices[sym]
            if p / hist_lo[sym] - 1 >= move_pct or 1 - p / hist_hi[sym] >= move_pct:
                fired += 1
            if p >= info.limit_up[sym] or p <= info.limit_down[sym]:
                fired += 1
            v = qty * p
            value += v
            expo += v * model.beta[sym]
            idio += (v * model.idio_vol[sym]) ** 2
        if a["margin"]:
            cash, debt = a["cash"], a["debt"] + a["short_qty"] * prices[a["short_sym"]]
            if debt > 0 and (cash + value) / debt < 1.4:
                fired += 1
            sigma = np.sqrt(model.factor_vol**2 * expo**2 + idio) / value if value else 0.0
            p = crossing_probability(
                np.array([value]), np.array([sigma]), np.array([cash]), np.array([debt]), 1.4, HORIZON
            )
            fired += int(p[0] > 0.5)
    return fired


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--positions", type=int, default=5_000_000)
    ap.add_argument("--symbols", type=int, default=5_400)
    ap.add_argument("--margin-share", type=float, default=0.05)
    ap.add_argument("--snapshots", type=int, default=40)
    ap.add_argument("--loop-sample", type=int, default=10_000)
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    t0 = time.perf_counter()
    book, prev = make_book(args.accounts, args.positions, args.symbols, args.margin_share, rng)
    info = market(prev, rng)
    print(
        f"book: {len(book.account_ids):,} accounts, {len(book.qty):,} positions, {book.n_sym:,} symbols, "
        f"{len(book.margin_rows):,} margin accounts ({len(book.short_rows):,} with a short position); built in {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"columnar book: {book.nbytes() / 2**20:.0f} MiB; process max RSS so far {rss_mb():.0f} MiB"
    )
    ev = Evaluator(book, info)
    start = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)  # 10:00 Beijing
    snaps = list(snapshots(prev, info.avg_volume_20d, rng, args.snapshots + 5, start))
    for s in snaps[:5]:
        ev.evaluate(s)  # warm the windows
    times, fired = [], 0
    gc.disable()
    for s in snaps[5:]:
        t = time.perf_counter()
        f = ev.evaluate(s)
        times.append(time.perf_counter() - t)
        fired += f.count
    gc.enable()
    vec = float(np.median(times))
    print(
        f"vectorised: median {vec * 1000:.1f} ms per snapshot (p90 {np.percentile(times, 90) * 1000:.1f} ms) "
        f"over {len(times)} snapshots, {fired:,} alerts after de-duplication"
    )

    # stress: a market-wide slide, 30 % of the symbols down 6 % within the window
    crash = snaps[-1].prices.copy()
    hit = rng.choice(args.symbols, int(args.symbols * 0.3), replace=False)
    crash[hit] = np.round(crash[hit] * 0.94, 2)
    stress_snap = Snapshot(snaps[-1].time + timedelta(seconds=3), crash, snaps[-1].volumes)
    t = time.perf_counter()
    stress = ev.evaluate(stress_snap)
    st = time.perf_counter() - t
    print(
        f"stress snapshot (30 % of symbols -6 %): {st * 1000:.0f} ms, {len(stress.positions):,} holding alerts, "
        f"{len(stress.crossings):,} margin crossings, {len(stress.forecast_rows):,} forecast warnings"
    )

    # pandas baseline on the same book
    is_margin = np.zeros(len(book.account_ids), bool)
    is_margin[book.margin_rows] = True
    pos = pd.DataFrame(
        {
            "acc": book.pos_account,
            "sym": book.pos_symbol,
            "qty": book.qty,
            "move_pct": book.move_pct[book.pos_account],
            "is_margin": is_margin[book.pos_account],
        }
    )
    short_sym = np.zeros(len(book.margin_rows), np.int64)
    short_qty = np.zeros(len(book.margin_rows))
    short_sym[book.short_rows] = book.short_symbol
    short_qty[book.short_rows] = book.short_qty
    margin = pd.DataFrame(
        {
            "acc": book.margin_rows,
            "cash": book.margin_cash,
            "debt": book.margin_debt,
            "short_sym": short_sym,
            "short_qty": short_qty,
        }
    )
    hist = pd.concat(
        [pd.DataFrame({"sym": np.arange(args.symbols), "price": s.prices}) for s in snaps[-200:]]
    )
    pt = []
    for s in snaps[-3:]:
        t = time.perf_counter()
        pandas_snapshot(pos, margin, hist, s, info, info.model)
        pt.append(time.perf_counter() - t)
    pdt = float(np.median(pt))
    print(
        f"pandas: median {pdt * 1000:.0f} ms per snapshot -> vectorised is {pdt / vec:.1f}x faster"
    )

    # per-account loop on a sample, extrapolated
    n = min(args.loop_sample, len(book.account_ids))
    sample = np.arange(n)
    order = np.argsort(book.pos_account, kind="stable")
    ptr = np.searchsorted(book.pos_account[order], np.arange(n + 1))
    mrow = book.margin_of_account
    accounts = []
    for a in sample:
        ps = order[ptr[a] : ptr[a + 1]]
        m = mrow[a]
        accounts.append(
            {
                "positions": [
                    (int(book.pos_symbol[p]), float(book.qty[p]), float(book.move_pct[a]))
                    for p in ps
                ],
                "margin": m >= 0,
                "cash": float(book.margin_cash[m]) if m >= 0 else 0.0,
                "debt": float(book.margin_debt[m]) if m >= 0 else 0.0,
                "short_sym": int(short_sym[m]) if m >= 0 else 0,
                "short_qty": float(short_qty[m]) if m >= 0 else 0.0,
            }
        )
    hi = hist.groupby("sym").price.max().to_numpy()
    lo = hist.groupby("sym").price.min().to_numpy()
    t = time.perf_counter()
    loop_snapshot(accounts, snaps[-1].prices, hi, lo, info, info.model)
    lt = time.perf_counter() - t
    full = lt * len(book.account_ids) / n
    print(
        f"python loop: {lt * 1000:.0f} ms for {n:,} accounts -> {full:.1f} s extrapolated to "
        f"{len(book.account_ids):,} ({full / vec:,.0f}x the vectorised time)"
    )
    print(f"max RSS {rss_mb():.0f} MiB (includes the pandas baseline's frames)")


if __name__ == "__main__":
    main()
