"""Bars files: a broker's daily or intraday price history, read and checked with Polars.

Columns (header required, names case-insensitive; CSV in UTF-8 or GBK, or Parquet):
``date`` (daily) or ``datetime`` (intraday, Beijing time unless it carries a zone), ``code``
(``600519``, ``sh600519``, ``600519.SH``; an index as ``000300.IDX`` or ``sh000300``),
``open``, ``high``, ``low``, ``close`` (yuan), ``volume`` (shares), optional ``amount`` (yuan).

The whole file is validated column-wise (a year of the market is over a million rows) and every
bad row is reported by its line number (the header is row 1); one bad row and nothing is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from brokercare.core.bulkimport import (
    MAX_REPORTED,
    ImportRejected,
    ImportReport,
    RowError,
    decode_text,
)
from brokercare.core.errors import ValidationFailed
from brokercare.market.quotes import to_symbol

FREQS = {"daily": 0, "1min": 1, "5min": 5}
PRICES = ("open", "high", "low", "close")
INDEX_EXCHANGE = {"000": "SH", "399": "SZ", "899": "BJ"}


def bar_symbol(code: str) -> str:
    """``to_symbol`` plus index codes: ``000300.IDX`` -> ``000300.SH``, ``399001.IDX`` -> ``399001.SZ``."""
    c = code.strip().upper()
    if c.endswith(".IDX"):
        num = c[:-4]
        ex = INDEX_EXCHANGE.get(num[:3])
        if not (num.isdigit() and len(num) == 6 and ex):
            raise ValidationFailed(f"bad index code {code!r}: expected e.g. 000300.IDX")
        return f"{num}.{ex}"
    return to_symbol(c)


@dataclass
class BarsFile:
    """A validated bars file: one row per (symbol, time) with the file's row number."""

    freq: str
    frame: pl.DataFrame  # row, symbol, time|day, open, high, low, close, volume, amount
    report: ImportReport


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise ValidationFailed(f"file not found: {path}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pl.read_parquet(path)
            return df.with_columns(pl.all().cast(pl.String))
        return pl.read_csv(decode_text(path).encode(), infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValidationFailed(f"{path.name} is not a readable bars file: {exc}") from None


def _time_column(df: pl.DataFrame, freq: str, name: str) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    if freq == "daily":
        # a timestamp with a midnight time (Parquet dates read back as text) is a date too
        text = text.str.replace(r"[ T]00:00:00(\.0+)?$", "")
        return pl.coalesce(text.str.to_date("%Y-%m-%d", strict=False),
                           text.str.to_date("%Y%m%d", strict=False),
                           text.str.to_date("%Y/%m/%d", strict=False))
    text = text.str.replace("T", " ").str.replace(r"\.\d+$", "")
    naive = pl.coalesce(text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False),
                        text.str.to_datetime("%Y-%m-%d %H:%M", strict=False),
                        text.str.to_datetime("%Y/%m/%d %H:%M:%S", strict=False))
    return naive.dt.replace_time_zone("Asia/Shanghai").dt.convert_time_zone("UTC")


def _symbols(codes: pl.Series) -> tuple[dict[str, str], dict[str, str]]:
    """Each distinct code's symbol, or the reason it is not a code."""
    good, bad = {}, {}
    for code in codes.drop_nulls().unique().to_list():
        try:
            good[code] = bar_symbol(code)
        except ValidationFailed as exc:
            bad[code] = exc.detail
    return good, bad


def _problems(df: pl.DataFrame, time_col: str, bad_codes: dict[str, str]) -> pl.DataFrame:
    """``row, reason`` of every row that fails a check (first failing check per row)."""
    num = {c: pl.col(f"_{c}") for c in (*PRICES, "volume", "amount")}
    checks: list[tuple[pl.Expr, pl.Expr | str]] = [
        (pl.col("code").is_null() | (pl.col("code").str.strip_chars() == ""), "code is missing"),
        (pl.col("code").is_in(list(bad_codes)),
         pl.col("code").replace_strict(bad_codes, default="bad code", return_dtype=pl.String)),
        (pl.col("_t").is_null(), pl.format("{} {} is not a valid {}", pl.lit(time_col),
                                           pl.col(time_col).fill_null("(empty)"),
                                           pl.lit("date such as 2026-06-16" if time_col == "date"
                                                  else "time such as 2026-03-23 09:31:00"))),
    ]
    for c in (*PRICES, "volume"):
        checks.append((num[c].is_null(), pl.format("{} {} is not a number", pl.lit(c), pl.col(c).fill_null("(empty)"))))
    checks += [
        (pl.any_horizontal([num[c] <= 0 for c in PRICES]), "prices must be positive"),
        (num["volume"] < 0, "volume must not be negative"),
        (pl.col("amount").is_not_null() & (pl.col("amount").str.strip_chars() != "") & num["amount"].is_null(),
         pl.format("amount {} is not a number", pl.col("amount"))),
        (num["amount"] < 0, "amount must not be negative"),
        ((num["high"] < pl.max_horizontal(num["open"], num["close"], num["low"]))
         | (num["low"] > pl.min_horizontal(num["open"], num["close"])),
         pl.format("high {} / low {} do not contain open {} and close {}",
                   num["high"], num["low"], num["open"], num["close"])),
        (pl.col("_dup"), "the same code and time appear on an earlier row"),
    ]
    reason = pl.when(checks[0][0]).then(pl.lit(checks[0][1]) if isinstance(checks[0][1], str) else checks[0][1])
    for cond, why in checks[1:]:
        reason = reason.when(cond).then(pl.lit(why) if isinstance(why, str) else why)
    return (df.select(pl.col("_row").alias("row"), reason.otherwise(None).alias("reason"))
            .filter(pl.col("reason").is_not_null()))


def read_bars(path: Path, freq: str = "daily") -> BarsFile:
    """Read and check a bars file; raises :class:`ImportRejected` listing the bad rows."""
    if freq not in FREQS:
        raise ValidationFailed(f"unknown frequency {freq!r}; use one of {', '.join(FREQS)}")
    df = _read(path)
    df = df.rename({c: c.strip().lower() for c in df.columns})
    time_col = "date" if freq == "daily" else "datetime"
    if freq == "daily" and "date" not in df.columns and "datetime" in df.columns:
        time_col = "datetime"
    needed = [time_col, "code", *PRICES, "volume"]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValidationFailed(f"{path.name}: missing column(s) {', '.join(missing)}; expected "
                               f"{'date' if freq == 'daily' else 'datetime'},code,open,high,low,close,volume[,amount]")
    if "amount" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.String).alias("amount"))
    good, bad = _symbols(df["code"].str.strip_chars())
    df = df.with_columns(
        pl.int_range(2, pl.len() + 2).alias("_row"),
        pl.col("code").str.strip_chars(),
        _time_column(df, freq, time_col).alias("_t"),
        *(pl.col(c).str.strip_chars().str.replace_all(",", "").cast(pl.Float64, strict=False).alias(f"_{c}")
          for c in (*PRICES, "volume", "amount")),
    ).with_columns(pl.col("code").replace_strict(good, default=None, return_dtype=pl.String).alias("_symbol"))
    df = df.with_columns(
        (pl.col("_symbol").is_not_null() & pl.col("_t").is_not_null()
         & (pl.int_range(pl.len()).over("_symbol", "_t") > 0)).alias("_dup"))
    report = ImportReport(kind=f"bars ({freq})", file=str(path), rows=df.height)
    problems = _problems(df, time_col, bad)
    if problems.height:
        report.rejected = problems.height
        report.errors = [RowError(r, why) for r, why in problems.head(MAX_REPORTED).iter_rows()]
        raise ImportRejected(report)
    key = "day" if freq == "daily" else "time"
    frame = df.select(
        pl.col("_row").alias("row"), pl.col("_symbol").alias("symbol"), pl.col("_t").alias(key),
        *(pl.col(f"_{c}").round(4).alias(c) for c in PRICES),
        pl.col("_volume").alias("volume"), pl.col("_amount").alias("amount"),
    )
    if freq != "daily":
        frame = frame.with_columns(pl.lit(FREQS[freq]).alias("minutes"))
    return BarsFile(freq, frame, report)
