"""Valuation warnings (seed 2.5.1): a holding measured by an index whose PE or PB stands above the
configured percentile of the index's own history (``data/valuation.yaml``), told with context to
the customers whose risk level it concerns.

The history is the shipped weekly PE/PB excerpt (``data/index_valuation/``, real index data to
2021-06-22) or the broker's newer file of the same columns (``BROKERCARE_INDEX_VALUATION_CSV``).
Each week's percentile is computed over the ten years up to it (no look-ahead; the index
providers' convention, which reproduces the source's own daily figures); the context says how
the index did over the following year the other times it was that dear. A valuation older than
``max_age_days`` is not used: a stale file warns nobody, and :func:`staleness` says so to the
operator (the nightly job's run record and log).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from io import StringIO
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from pydantic import BaseModel, Field

#: Weeks in a year, for the forward return the context quotes.
YEAR_WEEKS = 52


class IndexRule(BaseModel):
    code: str
    name: str
    names: list[str] = []
    industries: list[str] = []

    def measures(self, name: str, kind: str, industry: str | None) -> bool:
        if kind == "stock":
            return industry is not None and industry in self.industries
        return any(k in name for k in self.names)


class ValuationConfig(BaseModel):
    percentile: float = Field(gt=0, lt=100)
    risk_levels: list[str]
    max_age_days: int = Field(ge=1)
    window_years: int = Field(ge=1, le=30)
    min_weeks: int = Field(ge=1)
    indices: list[IndexRule] = Field(min_length=1)


@lru_cache(maxsize=1)
def config() -> ValuationConfig:
    text = resources.files("brokercare.engagement").joinpath("data/valuation.yaml").read_text("utf-8")
    return ValuationConfig.model_validate(yaml.safe_load(text))


@lru_cache(maxsize=2)
def history(path: str | None = None) -> pl.DataFrame:
    """``index, date, close, pe, pb`` by index and date."""
    path = path or os.environ.get("BROKERCARE_INDEX_VALUATION_CSV")
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("brokercare.engagement").joinpath(
            "data/index_valuation/weekly_pe_pb.csv").read_text("utf-8")
    frame = pl.read_csv(StringIO(text), schema_overrides={"index": pl.String, "date": pl.Date})
    missing = {"index", "date", "close", "pe", "pb"} - set(frame.columns)
    if missing:
        raise ValueError(f"index valuation file lacks columns: {', '.join(sorted(missing))}")
    return frame.sort("index", "date")


def rolling_percentile(values: np.ndarray, window: int) -> np.ndarray:
    """Each value's percentile (0–100): the share of the ``window`` values up to and including it
    that lie below it (the index providers' convention: a 10-year window)."""
    out = np.empty(len(values))
    for i in range(len(values)):
        past = values[max(0, i + 1 - window): i + 1]
        out[i] = 100.0 * float((past < values[i]).mean())
    return out


@dataclass(frozen=True)
class IndexValuation:
    code: str
    name: str
    as_of: date
    since: date  # the first week of the history
    pe: float
    pb: float
    pe_pct: float
    pb_pct: float
    dear_weeks: int  # earlier weeks as dear as this (either percentile above the line) with a year after
    median_next_year: float | None  # the index's median return over the year after them
    share_down: float | None  # how often it was lower a year later

    @property
    def top(self) -> float:
        return max(self.pe_pct, self.pb_pct)


@lru_cache(maxsize=64)
def valuation_on(code: str, day: date) -> IndexValuation | None:
    """The index's latest valuation on or before ``day`` with its percentiles and context; None
    when unknown, too short a history, or older than ``max_age_days``."""
    cfg = config()
    rule = next((r for r in cfg.indices if r.code == code), None)
    rows = history().filter((pl.col("index") == code) & (pl.col("date") <= day))
    if rule is None or rows.height < cfg.min_weeks or rows["date"][-1] < day - timedelta(days=cfg.max_age_days):
        return None
    window = cfg.window_years * YEAR_WEEKS
    pe_pct = rolling_percentile(rows["pe"].to_numpy(), window)
    pb_pct = rolling_percentile(rows["pb"].to_numpy(), window)
    close = rows["close"].to_numpy()
    dear = np.flatnonzero(np.maximum(pe_pct, pb_pct)[:-YEAR_WEEKS] > cfg.percentile)
    forward = close[dear + YEAR_WEEKS] / close[dear] - 1
    return IndexValuation(
        code=code, name=rule.name, as_of=rows["date"][-1], since=rows["date"][0],
        pe=float(rows["pe"][-1]), pb=float(rows["pb"][-1]), pe_pct=float(pe_pct[-1]), pb_pct=float(pb_pct[-1]),
        dear_weeks=len(dear), median_next_year=float(np.median(forward)) if len(dear) else None,
        share_down=float((forward < 0).mean()) if len(dear) else None)


def index_of(name: str, kind: str, industry: str | None) -> IndexRule | None:
    """The index a holding is measured by (the first rule that matches), if any."""
    return next((r for r in config().indices if r.measures(name, kind, industry)), None)


LEVEL_NAMES = {"C1": "保守型", "C2": "稳健型", "C3": "平衡型", "C4": "成长型", "C5": "进取型"}


def warning_text(name: str, level: str, holdings: list[str], v: IndexValuation) -> str:
    """The warning in plain Chinese, with the numbers behind it."""
    text = (f"{name}您好，您持有的{'、'.join(holdings)}与{v.name}指数相关。截至{v.as_of:%Y年%-m月%-d日}，"
            f"{v.name}市盈率{v.pe:.1f}倍，处于近{config().window_years}年的{v.pe_pct:.0f}%分位；市净率{v.pb:.2f}倍，"
            f"处于{v.pb_pct:.0f}%分位，估值处于历史较高水平。")
    if v.median_next_year is not None and v.share_down is not None:
        text += (f"历史上该指数估值高于{config().percentile:.0f}%分位的{v.dear_weeks}周里，"
                 f"一年后指数涨跌幅的中位数为{v.median_next_year:+.1%}，其中{v.share_down:.0%}的情况一年后是下跌的。")
    return text + (f"估值高不代表马上下跌，但回撤的空间往往更大。请结合您的风险承受能力（{LEVEL_NAMES.get(level, level)}）"
                   "和用钱时间，留意这部分持仓的比例。以上为历史统计，不代表未来表现，市场有风险。")


def staleness(day: date) -> str | None:
    """An operator's sentence when some configured indices have no valuation recent enough to use
    on ``day`` (none: nobody can be warned about them), else None."""
    cfg = config()
    frame = history()
    stale = []
    for rule in cfg.indices:
        dates = frame.filter((pl.col("index") == rule.code) & (pl.col("date") <= day))["date"]
        last = dates.max() if dates.len() else None
        if last is None or last < day - timedelta(days=cfg.max_age_days):
            stale.append((rule.code, last))
    if not stale:
        return None
    source = os.environ.get("BROKERCARE_INDEX_VALUATION_CSV") or "the shipped data/index_valuation/weekly_pe_pb.csv"
    newest = max((d for _, d in stale if d is not None), default=None)
    which = ("all configured indices" if len(stale) == len(cfg.indices)
             else "indices " + ", ".join(code for code, _ in stale))
    return (f"index valuation data is stale: {which} have no PE/PB within max_age_days={cfg.max_age_days} of {day} "
            f"(newest {newest or 'none'} in {source}), so no valuation warning can be sent for them; point "
            "BROKERCARE_INDEX_VALUATION_CSV at a current file with the columns index,date,close,pe,pb")
