"""Real A-share daily bars for tests, from the file the repository ships
(``src/brokercare/monitoring/data/a_share_daily_qfq.parquet``: 47 large caps, forward-adjusted,
2010-01-04 .. 2026-06-16; source in that folder's SOURCE.md), shaped like a broker's CSV export:
every column text, ``amount`` (yuan traded) estimated as close × volume where the file has none."""

from __future__ import annotations

from pathlib import Path

import polars as pl

SHIPPED = Path(__file__).resolve().parents[2] / "src/brokercare/monitoring/data/a_share_daily_qfq.parquet"


def daily(code: str) -> pl.DataFrame:
    """``date,open,high,low,close,volume,amount`` of one stock, as text, oldest first."""
    bars = pl.read_parquet(SHIPPED).filter(pl.col("code") == code).sort("date")
    price = [pl.col(c).cast(pl.Float64).round(2).cast(pl.String) for c in ("open", "high", "low", "close")]
    return bars.select(
        pl.col("date").dt.strftime("%Y-%m-%d").alias("date"), *price,
        pl.col("volume").round(0).cast(pl.Int64).cast(pl.String).alias("volume"),
        (pl.col("close").cast(pl.Float64) * pl.col("volume")).round(0).cast(pl.Int64).cast(pl.String)
        .alias("amount"))
