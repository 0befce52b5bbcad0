"""The nightly (or on-demand) bulk profile job: every customer, partition by partition.

Partitions are ranges of customer ids. Each one is computed by a pure function of (database URL,
range, as-of time, configuration), reading committed rows through the ADBC driver on SQLite
(:func:`~brokercare.core.bulkread.arrow_reads`), so the work can run in this process, in a process
pool (the default on a multi-core machine: workers read and compute while this process writes) or
on a Dask cluster (:func:`partition_task` is what to submit). Writes happen here, one transaction per
partition, so a crash leaves every profile either old or new, never half-written.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, func, select

from brokercare.core.bulkread import arrow_reads
from brokercare.core.bus import Event, get_bus
from brokercare.core.database import make_engine
from brokercare.customers.config import Compiled, load_config
from brokercare.customers.engine import AsOf, compute_partition, encode
from brokercare.customers.models import Customer
from brokercare.customers.service import TIER_CHANGED
from brokercare.customers.store import write_profiles


@dataclass
class BatchResult:
    customers: int = 0
    partitions: int = 0
    seconds: float = 0.0
    tiers: dict[str, int] = field(default_factory=dict)
    life_stages: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    tier_changes: int = 0
    first_profiles: int = 0

    @property
    def per_second(self) -> float:
        return self.customers / self.seconds if self.seconds else 0.0


def partitions(engine: Engine, size: int) -> list[tuple[int, int]]:
    """Id ranges of about ``size`` customers each (ids need not be dense)."""
    with engine.connect() as conn:
        ids = conn.execute(select(Customer.id).order_by(Customer.id)).scalars().all()
    if not ids:
        return []
    bounds = ids[::size]
    return [(lo, (bounds[i + 1] - 1) if i + 1 < len(bounds) else ids[-1]) for i, lo in enumerate(bounds)]


def _encode_ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf, compression="uncompressed")
    return buf.getvalue()


def partition_task(url: str, lo: int, hi: int, as_of_iso: str, config_file: str | None) -> bytes:
    """Compute one partition in a worker (a process-pool or Dask task): returns Arrow IPC bytes.

    The result carries the encoded profile rows plus the columns the summary needs.
    """
    compiled = load_config(Path(config_file)) if config_file else load_config()
    engine = _worker_engine(url)
    with engine.connect() as conn, arrow_reads(conn):
        classified = compute_partition(conn, lo, hi, AsOf(datetime.fromisoformat(as_of_iso)), compiled)
    return _encode_ipc(_with_summary(classified))


_engines: dict[str, Engine] = {}


def _worker_engine(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = make_engine(url, **({} if url.startswith("sqlite") else {"pool_size": 2}))
    return _engines[url]


def _with_summary(classified: pl.DataFrame) -> pl.DataFrame:
    return encode(classified).with_columns(tag_list=classified["tags"])


def run(
    engine: Engine,
    *,
    as_of: AsOf | None = None,
    compiled: Compiled | None = None,
    partition_size: int = 50_000,
    workers: int = 1,
    on_partition: Callable[[int], None] | None = None,
    publish: bool = True,
) -> BatchResult:
    """Compute and store every customer's profile; returns counts for the summary."""
    as_of = as_of or AsOf.now()
    compiled = compiled or load_config()
    started = time.perf_counter()
    ranges = partitions(engine, partition_size)
    result = BatchResult(partitions=len(ranges))
    tiers: dict[str, int] = {}
    stages: dict[str, int] = {}
    tags: dict[str, int] = {}

    for frame in _frames(engine, ranges, as_of, compiled, workers):
        with engine.begin() as conn:
            changes = write_profiles(conn, frame.drop("tag_list"), as_of.at)
        result.customers += frame.height
        result.tier_changes += int((changes["reason"] == "aum").sum()) if changes.height else 0
        result.first_profiles += int((changes["reason"] == "initial").sum()) if changes.height else 0
        for key, n in frame["tier"].value_counts().iter_rows():
            tiers[key] = tiers.get(key, 0) + n
        for key, n in frame["life_stage"].fill_null("—").value_counts().iter_rows():
            stages[key] = stages.get(key, 0) + n
        for key, n in frame["tag_list"].explode().drop_nulls().value_counts().iter_rows():
            tags[key] = tags.get(key, 0) + n
        if publish and changes.height:
            _publish_changes(changes.filter(pl.col("reason") == "aum"))
        if on_partition:
            on_partition(frame.height)

    result.seconds = time.perf_counter() - started
    result.tiers, result.life_stages, result.tags = tiers, stages, tags
    return result


def _frames(
    engine: Engine, ranges: list[tuple[int, int]], as_of: AsOf, compiled: Compiled, workers: int
) -> Iterator[pl.DataFrame]:
    if workers <= 1 or len(ranges) <= 1:
        for lo, hi in ranges:
            with engine.connect() as conn, arrow_reads(conn):
                yield _with_summary(compute_partition(conn, lo, hi, as_of, compiled))
        return
    url = engine.url.render_as_string(hide_password=False)
    source = compiled.source if Path(compiled.source).exists() else None
    # Spawned, not forked: Polars' thread pool does not survive a fork.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(partition_task, url, lo, hi, as_of.at.isoformat(), source)
                   for lo, hi in ranges]
        for fut in futures:
            yield pl.read_ipc(io.BytesIO(fut.result()))


def _publish_changes(changes: pl.DataFrame) -> None:
    bus = get_bus()
    for row in changes.iter_rows(named=True):
        bus.publish(Event(
            type=TIER_CHANGED,
            customer_id=row["customer_id"],
            payload={"customer_id": row["customer_id"], "from_tier": row["from_tier"],
                     "to_tier": row["to_tier"], "aum": row["aum"]},
        ))


def customer_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Customer)) or 0
