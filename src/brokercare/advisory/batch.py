"""The nightly proposal batch: columnar partitions from the database (or a synthetic book for
benchmarks), the pure engine over them, and the results written as Parquet.

Reading is one bulk read per source, not one ORM object per row: the accounts service's batch
reads (active cash accounts and their positions, as the driver's rows), the customers service's
list of open customers, and this domain's own assessments. The per-customer read services
(``positions_of``) would mean a million round trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.service import (
    active_cash_accounts,
    active_cash_positions,
    margin_by_customer,
)
from brokercare.advisory import proposals as engine
from brokercare.advisory.models import RiskAssessment
from brokercare.advisory.suitability import LEVELS
from brokercare.core.bulkread import driver_rows
from brokercare.customers.service import open_customer_ids
from brokercare.market.service import instrument_rows


def context_from_db(session: Session, weights: np.ndarray | None = None) -> engine.Context:
    return engine.build_context(instrument_rows(session), weights)


def _levels(session: Session, customer_ids: np.ndarray, today: date) -> np.ndarray:
    """Level index per customer from the latest assessment, -1 when missing or expired."""
    out = np.full(len(customer_ids), -1, np.int8)
    if not len(customer_ids):
        return out
    frame = pd.DataFrame.from_records(driver_rows(
        session.connection(),
        select(RiskAssessment.customer_id, RiskAssessment.level, RiskAssessment.valid_until,
               RiskAssessment.assessed_on, RiskAssessment.id)
        .where(RiskAssessment.customer_id.between(int(customer_ids[0]), int(customer_ids[-1]))),
    ), columns=["customer_id", "level", "valid_until", "assessed_on", "id"])
    if frame.empty:
        return out
    frame = frame[frame["customer_id"].isin(customer_ids)]
    for col in ("valid_until", "assessed_on"):  # SQLite hands back ISO strings, PostgreSQL dates
        frame[col] = pd.to_datetime(frame[col]).dt.date
    latest = frame.sort_values(["customer_id", "assessed_on", "id"]).groupby("customer_id").tail(1)
    latest = latest[latest["valid_until"] >= today]
    code = {lv: i for i, lv in enumerate(LEVELS)}
    rows = np.searchsorted(customer_ids, latest["customer_id"].to_numpy(np.int64))
    out[rows] = latest["level"].map(code).to_numpy(np.int8)
    return out


def partition_from_db(session: Session, ctx: engine.Context, customer_ids: list[int] | np.ndarray,
                      *, today: date | None = None, reserve_debt: bool = False) -> engine.Partition:
    """The cash accounts and positions of these customers as one columnar partition;
    ``reserve_debt``: a margin customer's cash is first set aside to repay what they owe on their
    margin accounts, and only the rest is available to invest (the nightly batch; the one-customer
    advice sets it aside itself, to say how much in its text).

    Rows are selected by customer-id *range* (a join, not a list of ids: SQLite and PostgreSQL cap
    the number of bound parameters) and then narrowed to the given ids.
    """
    today = today or date.today()
    ids = np.asarray(sorted(set(int(c) for c in customer_ids)), dtype=np.int64)
    lo, hi = (int(ids[0]), int(ids[-1])) if len(ids) else (0, -1)
    conn = session.connection()
    accounts = pd.DataFrame.from_records(active_cash_accounts(conn, lo=lo, hi=hi),
                                         columns=["account_id", "customer_id", "cash", "frozen", "rate"])
    accounts = accounts[accounts["customer_id"].isin(ids)]
    positions = pd.DataFrame.from_records(active_cash_positions(conn, lo=lo, hi=hi),
                                          columns=["account_id", "symbol", "qty", "available"])
    index = {s: i for i, s in enumerate(ctx.symbols.tolist())}
    pos = positions.merge(accounts[["account_id", "customer_id"]], on="account_id")
    pos = pos[pos["symbol"].isin(index)]
    pos["inst"] = pos["symbol"].map(index)
    pos["row"] = np.searchsorted(ids, pos["customer_id"].to_numpy())
    pos = pos.sort_values(["row", "inst"])
    counts = np.bincount(pos["row"].to_numpy(dtype=np.int64), minlength=len(ids))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    cash = np.zeros(len(ids))
    rate = np.full(len(ids), 0.00025)
    if not accounts.empty:
        acc = accounts.assign(row=np.searchsorted(ids, accounts["customer_id"].to_numpy()))
        net = (acc["cash"].astype(float) - acc["frozen"].astype(float)).clip(lower=0)
        cash = np.bincount(acc["row"], weights=net, minlength=len(ids))
        first = acc.groupby("row")["rate"].first()
        rate[first.index.to_numpy()] = first.astype(float).to_numpy()
    if reserve_debt and len(ids):
        cash = cash - np.minimum(_margin_debt(conn, ids, lo, hi), cash)
    return engine.Partition(
        customer_id=ids, level=_levels(session, ids, today), cash=cash, commission_rate=rate,
        offsets=offsets.astype(np.int64), inst=pos["inst"].to_numpy(np.int32),
        qty=pos["qty"].astype(float).to_numpy(), available=pos["available"].astype(float).to_numpy(),
    )


def _margin_debt(conn, ids: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Each customer's margin liabilities (financing, lending, interest) in yuan, 0 without."""
    owed = margin_by_customer(conn, lo=lo, hi=hi)
    debt = np.zeros(len(ids))
    if owed.height:
        owed = owed.filter(pl.col("customer_id").is_in(ids.tolist()))
        rows = np.searchsorted(ids, owed["customer_id"].to_numpy())
        fen = (owed["financing"].fill_null(0) + owed["lending"].fill_null(0) + owed["interest"].fill_null(0)).to_numpy()
        np.add.at(debt, rows, fen / 100.0)
    return debt


def partitions_from_db(session: Session, ctx: engine.Context, *, size: int = 50_000,
                       today: date | None = None) -> list[engine.Partition]:
    ids = np.asarray(open_customer_ids(session.connection()), dtype=np.int64)
    if len(ids) == 0:
        return [partition_from_db(session, ctx, ids, today=today)]
    return [partition_from_db(session, ctx, ids[i : i + size], today=today, reserve_debt=True)
            for i in range(0, len(ids), size)]


def synthetic_book(n: int, ctx: engine.Context, rng: np.random.Generator, *, start_id: int = 1,
                   mean_holdings: float = 5.0) -> engine.Partition:
    """A brokerage-shaped synthetic book for benchmarks: lognormal wealth, a few holdings each,
    some bought today (not yet sellable), some customers without a valid assessment."""
    counts = np.minimum(rng.poisson(mean_holdings - 1, n) + 1, 30)
    h = int(counts.sum())
    tradable = np.flatnonzero(ctx.price > 0)
    inst = rng.choice(tradable, size=h).astype(np.int32)
    wealth = rng.lognormal(np.log(80_000), 1.2, n)
    owner = np.repeat(np.arange(n), counts)
    share = rng.dirichlet(np.ones(3), size=h)[:, 0] if h else np.zeros(0)
    value = wealth[owner] * share
    qty = np.maximum(np.floor(value / ctx.price[inst] / 100) * 100, 100.0)
    available = np.where(rng.random(h) < 0.05, 0.0, qty)
    return engine.Partition(
        customer_id=np.arange(start_id, start_id + n, dtype=np.int64),
        level=np.where(rng.random(n) < 0.04, -1, rng.choice(5, n, p=[0.12, 0.25, 0.35, 0.2, 0.08])).astype(np.int8),
        cash=np.round(wealth * rng.uniform(0.0, 0.4, n), 2),
        commission_rate=rng.choice([0.0001, 0.00018, 0.00025, 0.0003], n),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        inst=inst, qty=qty, available=available,
    )


@dataclass
class BatchSummary:
    customers: int
    rebalance: int
    reassess: int
    trades: int
    buy_amount: float
    sell_amount: float
    fees: float
    path: Path | None


def summarise(result: engine.Proposals, path: Path | None = None) -> BatchSummary:
    buys = result.t_side > 0
    return BatchSummary(
        len(result.customer_id), int((result.status == engine.REBALANCE).sum()),
        int((result.status == engine.REASSESS).sum()), len(result.t_qty),
        float(result.t_amount[buys].sum()), float(result.t_amount[~buys].sum()), float(result.t_fee.sum()), path,
    )


def write_parquet(result: engine.Proposals, ctx: engine.Context, out_dir: Path, run_date: date) -> Path:
    # Only the nightly batch writes Parquet: pyarrow stays out of the API process that imports this.
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = out_dir / f"proposals-{run_date.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    customers = {"customer_id": result.customer_id,
                 "status": [engine.STATUS_NAMES[int(s)] for s in result.status],
                 "total": result.total, "drift": result.drift}
    for j, c in enumerate(ctx.classes):
        customers[f"current_{c}"] = result.current[:, j]
        customers[f"target_{c}"] = result.target[:, j]
    pq.write_table(pa.table(customers), folder / "customers.parquet")
    trades = pa.table({
        "customer_id": result.t_customer, "symbol": ctx.symbols[result.t_inst].astype(str),
        "side": np.where(result.t_side > 0, "buy", "sell"), "quantity": result.t_qty,
        "amount": result.t_amount, "fees": result.t_fee,
    })
    pq.write_table(trades, folder / "trades.parquet")
    return folder
