"""The report data of many customers: reading a partition through the other domains' services,
computing it, and running every partition of a night in one process or on a Dask cluster.

A partition is a range of customer ids. :func:`partition_documents` is a plain function of the
database URL, the day and the range, so a Dask worker runs exactly what one process runs; the
caller stores the results and queues the pushes as partitions finish (in id order or not, the
rows written are the same).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import polars as pl
from sqlalchemy import Connection, Engine

if TYPE_CHECKING:
    from dask.distributed import Client

from brokercare.accounts.service import (
    cash_by_customer,
    holdings_frame,
    margin_by_customer,
    trades_frame,
)
from brokercare.core.calendar import SHANGHAI, next_trading_day
from brokercare.customers.service import open_customer_ids, report_recipients
from brokercare.engagement import wording
from brokercare.engagement.daily import DailyFrames, DailyInputs, compute
from brokercare.engagement.ipo_estimate import notes_for
from brokercare.market.service import day_facts
from brokercare.monitoring.service import daily_report_subscribers, next_day_notes

#: Customers per partition of the nightly run (one set of batch reads each).
PARTITION = 50_000

Docs = list[tuple[int, dict]]
Progress = Callable[[int, int], None]


def _window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def read_inputs(conn: Connection, day: date, *, lo: int, hi: int, facts: pl.DataFrame | None = None,
                only: list[int] | None = None) -> DailyInputs:
    """The partition's columns from the customers, accounts, market and monitoring services
    (``facts``: the day's market facts when the caller already read them; ``only``: these
    customers of the range)."""
    start, end = _window(day)
    recipients = report_recipients(conn, lo=lo, hi=hi)
    if only is not None:
        recipients = recipients.filter(pl.col("customer_id").is_in(only))
    return DailyInputs(
        recipients=recipients, holdings=holdings_frame(conn, lo=lo, hi=hi),
        trades=trades_frame(conn, lo=lo, hi=hi, start=start, end=end),
        facts=facts if facts is not None else day_facts(conn, day),
        cash=cash_by_customer(conn, lo=lo, hi=hi), margin=margin_by_customer(conn, lo=lo, hi=hi),
        notes=next_day_notes(conn, day, lo=lo, hi=hi),
    )


def build(conn: Connection, day: date, *, lo: int, hi: int, facts: pl.DataFrame | None = None,
          only: list[int] | None = None) -> DailyFrames:
    return compute(read_inputs(conn, day, lo=lo, hi=hi, facts=facts, only=only))


def documents(frames: DailyFrames, day: date, estimates: dict[str, str] | None = None) -> Iterator[tuple[int, dict]]:
    """Each customer's report document of the partition (``estimates``: tomorrow's new shares'
    first-day estimate sentences by subscription code)."""
    return wording.documents(frames, day, next_trading_day(day), estimates)


def ipo_notes(engine: Engine, day: date) -> dict[str, str]:
    """The first-day estimates of the new shares subscribing on the next trading day (read once a night)."""
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return notes_for(session, next_trading_day(day))


def partition_documents(url: str, day: date, lo: int, hi: int, subscribers_only: bool,
                        facts: pl.DataFrame, estimates: dict[str, str] | None = None) -> Docs:
    """The documents of customers ``lo..hi`` (only those who opted in, with ``subscribers_only``):
    what one process and each Dask task run."""
    from brokercare.core.database import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            only = daily_report_subscribers(conn, lo=lo, hi=hi) if subscribers_only else None
            if only is not None and not only:
                return []
            return list(documents(build(conn, day, lo=lo, hi=hi, facts=facts, only=only), day, estimates))
    finally:
        engine.dispose()


def _ranges(engine: Engine, partition: int) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        ids = open_customer_ids(conn)
    top = ids[-1] if ids else 0
    return [(lo, min(lo + partition - 1, top)) for lo in range(1, top + 1, partition)]


def night(engine: Engine, day: date, *, subscribers_only: bool = True, partition: int = PARTITION,
          client: Client | None = None, progress: Progress | None = None) -> Iterator[Docs]:
    """Every partition's documents, in one process or, given a ``dask.distributed`` client, as
    one task per partition on its workers (yielded as they finish; ``progress(done, total)``
    counts partitions)."""
    ranges = _ranges(engine, partition)
    with engine.connect() as conn:
        facts = day_facts(conn, day)
    estimates = ipo_notes(engine, day)
    url = engine.url.render_as_string(hide_password=False)
    if client is None:
        for k, (lo, hi) in enumerate(ranges, 1):
            yield partition_documents(url, day, lo, hi, subscribers_only, facts, estimates)
            if progress:
                progress(k, len(ranges))
        return
    from dask.distributed import as_completed

    shared = client.scatter(facts, broadcast=True)
    futures = [client.submit(partition_documents, url, day, lo, hi, subscribers_only, shared, estimates, pure=False)
               for lo, hi in ranges]
    for k, future in enumerate(as_completed(futures), 1):
        yield future.result()
        if progress:
            progress(k, len(ranges))
