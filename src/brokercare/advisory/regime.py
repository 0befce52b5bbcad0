"""The market-volatility regime that makes the model portfolios dynamic.

Realised volatility of the 沪深300 total-return index over a short window is ranked against its
own trailing history; at or above the configured percentile the market is in a high-volatility
regime and every model's equity weight is cut by the configured rule. Only data up to ``as_of``
is used, so the backtest applies the rule without looking ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from brokercare.advisory import series
from brokercare.advisory.portfolio_config import config


@dataclass(frozen=True)
class Regime:
    as_of: date
    realised_vol: float  # annualised, over the short window
    percentile: float  # 0..1 within the trailing lookback
    high: bool

    @property
    def label(self) -> str:
        return "high_volatility" if self.high else "normal"

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "realised_vol": round(self.realised_vol, 4),
            "percentile": round(self.percentile, 4),
            "regime": self.label,
        }


def rolling_vol(closes: pd.Series, window: int) -> pd.Series:
    returns = np.log(closes).diff()
    return returns.rolling(window).std() * np.sqrt(244)


def regime_series(closes: pd.Series | None = None) -> pd.DataFrame:
    """Vol, trailing percentile and the high flag for every date (vectorised, no look-ahead)."""
    cfg = config()["regime"]
    closes = series.regime_index() if closes is None else closes
    vol = rolling_vol(closes, cfg["vol_window_days"])
    lookback = cfg["lookback_days"]
    pct = vol.rolling(lookback, min_periods=244).rank(pct=True)
    frame = pd.DataFrame({"vol": vol, "percentile": pct})
    frame["high"] = frame["percentile"] >= cfg["high_percentile"]
    return frame.dropna()


def current(as_of: date | None = None) -> Regime:
    frame = regime_series()
    if as_of is not None:
        frame = frame.loc[: pd.Timestamp(as_of)]
    if frame.empty:
        raise ValueError("no volatility history before the requested date")
    last = frame.iloc[-1]
    return Regime(frame.index[-1].date(), float(last["vol"]), float(last["percentile"]), bool(last["high"]))


def apply(weights: dict[str, float], high: bool) -> dict[str, float]:
    """Cut equity by the configured fraction and hand the freed weight to the safe classes."""
    if not high:
        return dict(weights)
    cfg = config()["regime"]
    equity = [k for k, v in config()["asset_classes"].items() if v["equity"]]
    out = dict(weights)
    freed = 0.0
    for name in equity:
        cut = out.get(name, 0.0) * cfg["equity_cut"]
        out[name] = out.get(name, 0.0) - cut
        freed += cut
    for name, share in cfg["to"].items():
        out[name] = out.get(name, 0.0) + freed * share
    return out
