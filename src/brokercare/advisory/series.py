"""The real asset-class history the model portfolios are built and backtested on.

``data/asset_class_daily.csv`` is built once from the shared market data by
``build_from_shared`` (see ``data/SOURCE.md`` for every series and its origin) and shipped in the
package, so the product needs no network and no shared folder at run time.

Money market has no real series in the shared data: it is modelled from the annual path of the
money-fund industry's average 7-day annualised yield (``data/money_fund_yield_path.csv``), accrued
daily over the trading calendar. That same path is the risk-free rate for Sharpe ratios: it is what
a customer actually earns on idle cash.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).parent / "data"
SERIES_FILE = DATA / "asset_class_daily.csv"
# The full 沪深300 total-return history (2005-) for the volatility regime, which needs a long past.
REGIME_FILE = DATA / "regime_hs300_tr.csv"

# asset class -> (file under the shared market folder, kind)
SOURCES = {
    "large_cap": ("a_share_index_daily/h00300.csv", "index"),  # 沪深300全收益
    "small_cap": ("a_share_index_daily/h00852.csv", "index"),  # 中证1000全收益
    "bond": ("cn_fund_nav/nav/001512.csv", "nav"),  # 易方达中债3-5年期国债指数
    "gold": ("cn_fund_nav/nav/000216.csv", "nav"),  # 华安黄金ETF联接A
}
START = "2015-08-03"
ASSET_CLASSES = ("large_cap", "small_cap", "bond", "gold", "money")
EQUITY = ("large_cap", "small_cap")
CLASS_NAMES = {
    "large_cap": "A股大盘（沪深300）",
    "small_cap": "A股中小盘（中证1000）",
    "bond": "债券（中债3-5年国债）",
    "gold": "黄金",
    "money": "货币市场",
}


def _index_levels(path: Path) -> pd.Series:
    frame = pd.read_csv(path, parse_dates=["date"])
    return frame.set_index("date")["close"].astype(float)


def _nav_total_return(path: Path) -> pd.Series:
    """Compound the daily growth column: unit NAV drops on distributions, growth does not."""
    frame = pd.read_csv(path, parse_dates=["净值日期"]).sort_values("净值日期")
    growth = frame["日增长率"].astype(float).fillna(0.0) / 100.0
    return pd.Series((1.0 + growth).cumprod().to_numpy(), index=frame["净值日期"].to_numpy())


def money_yield_path() -> pd.Series:
    frame = pd.read_csv(DATA / "money_fund_yield_path.csv")
    return frame.set_index("year")["yield_pct"].astype(float) / 100.0


def money_daily_returns(dates: pd.DatetimeIndex) -> np.ndarray:
    """Accrue the annual yield by calendar days between consecutive trading dates (ACT/365)."""
    path = money_yield_path()
    years = np.clip(dates.year.to_numpy(), path.index.min(), path.index.max())
    yields = path.reindex(years).to_numpy()
    gaps = np.diff(dates.to_numpy()).astype("timedelta64[D]").astype(float)
    gaps = np.concatenate([[0.0], gaps])
    return (1.0 + yields) ** (gaps / 365.0) - 1.0


def build_from_shared(market_dir: Path) -> pd.DataFrame:
    """Align every class on the common trading dates and write ``asset_class_daily.csv``."""
    levels = {}
    for name, (rel, kind) in SOURCES.items():
        path = market_dir / rel
        levels[name] = _index_levels(path) if kind == "index" else _nav_total_return(path)
    frame = pd.DataFrame(levels).dropna()
    # The bond fund published weekly NAVs while it was being set up; start once it is daily.
    frame = frame.loc[START:]
    frame = frame / frame.iloc[0]
    money = np.cumprod(1.0 + money_daily_returns(frame.index))
    frame["money"] = money
    frame.index.name = "date"
    frame.round(8).to_csv(SERIES_FILE)
    _index_levels(market_dir / SOURCES["large_cap"][0]).rename("close").to_csv(REGIME_FILE)
    return frame


@lru_cache
def levels() -> pd.DataFrame:
    """Total-return index levels of every asset class, 1.0 on the first common date."""
    frame = pd.read_csv(SERIES_FILE, parse_dates=["date"]).set_index("date")
    return frame[list(ASSET_CLASSES)]


def daily_returns() -> pd.DataFrame:
    frame = levels()
    return frame.pct_change().iloc[1:]


def risk_free_daily() -> pd.Series:
    return daily_returns()["money"]


@lru_cache
def regime_index() -> pd.Series:
    frame = pd.read_csv(REGIME_FILE, parse_dates=["date"]).set_index("date")
    return frame["close"].astype(float)
