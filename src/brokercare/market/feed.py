"""Replaying a bars file into a running platform through ``POST /api/v1/market/quotes``.

Each bar becomes the snapshot at its end time (price: the bar's close; volume: the day's running
total, as a Level-1 feed sends it); the bars of one time go as one batch, in time order, paced at
``speed`` times real time (0: as fast as the server answers). Gaps longer than :data:`MAX_PAUSE_S`
of market time (lunch, the night) are not waited out. The server ignores what it already has, so a
replay interrupted and started again resumes where it was without duplicates.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import polars as pl

from brokercare.core.errors import ValidationFailed
from brokercare.market.barfiles import read_bars
from brokercare.market.schemas import MAX_BATCH
from brokercare.market.store import close_time

MAX_PAUSE_S = 600
QUOTES_PATH = "/api/v1/market/quotes"


@dataclass
class FeedReport:
    batches: int = 0
    quotes: int = 0
    accepted: int = 0
    ignored: int = 0
    seconds: float = 0.0


def snapshots(path: Path) -> Iterator[tuple[datetime, list[dict]]]:
    """``(time, quotes)`` in time order from a bars file (intraday when it has ``datetime``)."""
    header = path.read_bytes()[:4096].decode("utf-8", "ignore").lower() if path.suffix.lower() not in (
        ".parquet", ".pq") else ",".join(pl.read_parquet_schema(path)).lower()
    freq = "1min" if "datetime" in header else "daily"
    frame = read_bars(path, freq).frame
    if freq == "daily":
        frame = frame.with_columns(pl.col("day").map_elements(close_time, return_dtype=pl.Datetime("us", "UTC"))
                                   .alias("time"))
    frame = frame.with_columns(pl.col("time").dt.convert_time_zone("Asia/Shanghai").dt.date().alias("_day"))
    frame = frame.sort("symbol", "time").with_columns(
        pl.col("volume").cum_sum().over("symbol", "_day").alias("cum_volume")).sort("time", "symbol")
    for (at,), group in frame.group_by("time", maintain_order=True):
        yield at, [{"code": s, "time": at.isoformat(), "price": p, "volume": v}
                   for s, p, v in group.select("symbol", "close", "cum_volume").iter_rows()]


def replay(path: Path, url: str, token: str, *, speed: float = 0.0,
           progress: Callable[[datetime, int], None] | None = None,
           client: httpx.Client | None = None) -> FeedReport:
    """Post every snapshot of ``path`` to the platform at ``url``; stops at the first refusal."""
    if speed < 0:
        raise ValidationFailed("speed must be 0 (as fast as possible) or positive")
    report = FeedReport()
    started = clock.monotonic()
    own = client is None
    http = client or httpx.Client(base_url=url.rstrip("/"), timeout=60)
    previous: datetime | None = None
    try:
        for at, quotes in snapshots(path):
            if speed > 0 and previous is not None:
                clock.sleep(min((at - previous).total_seconds(), MAX_PAUSE_S) / speed)
            previous = at
            for start in range(0, len(quotes), MAX_BATCH):
                part = quotes[start:start + MAX_BATCH]
                answer = http.post(QUOTES_PATH, json={"quotes": part}, headers={"Authorization": f"Bearer {token}"})
                if answer.status_code != 200:
                    detail = answer.json().get("detail") if answer.headers.get("content-type", "").endswith(
                        "json") else answer.text[:300]
                    raise ValidationFailed(f"the platform refused the snapshot of {at.isoformat()} "
                                           f"(HTTP {answer.status_code}): {detail}")
                body = answer.json()
                report.batches += 1
                report.quotes += len(part)
                report.accepted += body["accepted"]
                report.ignored += body["ignored"]
            if progress is not None:
                progress(at, len(quotes))
    finally:
        if own:
            http.close()
        report.seconds = clock.monotonic() - started
    return report
