"""Calibration of the margin-crossing forecast on real daily history.

Minute bars are not in the shipped data, so the model is checked at the one-trading-day horizon,
where the path minimum is observable: the day's low. The same formula serves the 60-minute
horizon with ``h = 0.25``; only the square-root-of-time scaling is not covered by this check.

Two tables, both out of sample (parameters estimated from data up to the evening before):

- ``first_passage``: single-stock margin accounts (the riskiest and commonest case). An account is
  placed at a distance ``d`` from its line, drawn so that every probability bucket is populated;
  predicted ``P = 2 Phi(-d / sigma)``; observed: the next day's low reaches the barrier.
- ``portfolio_close``: three-stock accounts with random weights; predicted probability that the
  next close is beyond the barrier, ``Phi(-d / sigma_p)`` with the factor-model ``sigma_p``;
  observed: the next day's closes. This checks the correlation part of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from brokercare.monitoring.forecast import EWMA_LAMBDA, INDEX_CODE, close_matrix

BUCKETS = (0.0, 0.02, 0.05, 0.10, 0.20, 0.35, 0.50, 0.65, 0.80, 1.0)


@dataclass
class CalibrationRow:
    low: float
    high: float
    n: int
    predicted: float
    observed: float

    def as_dict(self) -> dict:
        return {
            "bucket": f"{self.low:.0%}-{self.high:.0%}",
            "n": self.n,
            "predicted": round(self.predicted, 4),
            "observed": round(self.observed, 4),
        }


def _ewma_sigma(rets: pd.DataFrame) -> pd.DataFrame:
    """RiskMetrics EWMA volatility known at each close (uses returns up to and including it)."""
    return np.sqrt((rets**2).ewm(alpha=1 - EWMA_LAMBDA, adjust=False, min_periods=60).mean())


def table(pred: np.ndarray, hit: np.ndarray) -> list[CalibrationRow]:
    rows = []
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:], strict=True):
        sel = (pred >= lo) & ((pred < hi) if hi < 1 else (pred <= hi))
        if sel.sum():
            rows.append(
                CalibrationRow(
                    lo, hi, int(sel.sum()), float(pred[sel].mean()), float(hit[sel].mean())
                )
            )
    return rows


def first_passage_samples(
    seed: int = 7, start: str = "2011-01-01"
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, observed) pairs for single-stock accounts, one per stock-day after ``start``."""
    closes = close_matrix("close")
    lows = close_matrix("low")
    stocks = [c for c in closes.columns if c != INDEX_CODE]
    rets = np.log(closes[stocks]).diff()
    sigma = _ewma_sigma(rets)
    rng = np.random.default_rng(seed)
    s = sigma.to_numpy()[:-1]
    next_low = np.log(lows[stocks].to_numpy()[1:] / closes[stocks].to_numpy()[:-1])
    keep = np.isfinite(s) & np.isfinite(next_low) & (closes.index[:-1] >= start)[:, None]
    s, next_low = s[keep], next_low[keep]
    d = rng.uniform(0.02, 3.2, size=s.shape) * s  # distance to the barrier in log terms
    pred = np.minimum(2 * ndtr(-d / s), 1.0)
    return pred, (next_low <= -d).astype(float)


def portfolio_close_samples(
    seed: int = 11, n: int = 60_000, start: str = "2011-01-01"
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, observed) pairs for random three-stock accounts on random days."""
    closes = close_matrix("close")
    rets = np.log(closes).diff()
    market = rets[INDEX_CODE]
    stocks = [c for c in closes.columns if c != INDEX_CODE]
    r = rets[stocks]
    var_m = (market**2).ewm(alpha=1 - EWMA_LAMBDA, adjust=False, min_periods=60).mean()
    beta = (
        r.rolling(250, min_periods=120)
        .cov(market)
        .div(market.rolling(250, min_periods=120).var(), axis=0)
    )
    total_var = (r**2).ewm(alpha=1 - EWMA_LAMBDA, adjust=False, min_periods=60).mean()
    idio_var = np.maximum(total_var - beta.pow(2).mul(var_m, axis=0), 0.0625 * total_var)
    dates = np.flatnonzero(closes.index[:-1] >= start)
    rng = np.random.default_rng(seed)
    B, E, V, R = beta.to_numpy(), idio_var.to_numpy(), var_m.to_numpy(), r.to_numpy()
    t = rng.choice(dates, size=n)
    picks = np.stack([rng.choice(len(stocks), size=3, replace=False) for _ in range(n)])
    w = rng.dirichlet(np.ones(3), size=n)
    b = B[t[:, None], picks]
    e = E[t[:, None], picks]
    nxt = R[t[:, None] + 1, picks]
    ok = np.isfinite(b).all(1) & np.isfinite(e).all(1) & np.isfinite(nxt).all(1) & np.isfinite(V[t])
    b, e, nxt, w, vm = b[ok], e[ok], nxt[ok], w[ok], V[t][ok]
    sigma_p = np.sqrt(vm * (w * b).sum(1) ** 2 + (w**2 * e).sum(1))
    d = rng.uniform(-0.5, 3.0, size=len(sigma_p)) * sigma_p
    port = np.log((w * np.exp(nxt)).sum(1))
    pred = ndtr(-d / sigma_p)
    return pred, (port <= -d).astype(float)


def calibration_report() -> dict[str, list[dict]]:
    fp = table(*first_passage_samples())
    pc = table(*portfolio_close_samples())
    return {
        "first_passage": [r.as_dict() for r in fp],
        "portfolio_close": [r.as_dict() for r in pc],
    }
