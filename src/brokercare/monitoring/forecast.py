"""Probability that a margin account crosses a line within the next hour.

Model. The account's collateral is cash ``C`` plus stock value ``S``; its liabilities ``L`` are
taken as fixed over the horizon. It crosses line ``k`` (e.g. 1.40) when ``C + S_t <= k L``, i.e.
when ``S_t`` falls to the barrier ``B = k L - C``. Log stock value follows a driftless Brownian
motion with the portfolio's volatility, from a one-factor model of daily returns:
``r_i = beta_i f + e_i`` so ``var(r_p) = sigma_f^2 (sum w_i beta_i)^2 + sum w_i^2 sigma_ei^2``.
With distance ``d = ln(S / B)`` and horizon volatility ``s = sigma_p sqrt(h)``, the reflection
principle gives the first-passage probability ``P = 2 Phi(-d / s)``. ``h`` is in trading days: one
day is 240 trading minutes, so 60 minutes is ``h = 0.25`` (square-root-of-time scaling of daily
volatility; the intraday U-shape is ignored).

Everything is vectorised over accounts through sparse holdings matrices, so the whole margin book
is priced in a few sparse matrix-vector products per snapshot.

Parameters come from daily history: EWMA volatility (RiskMetrics, lambda 0.94) of log returns,
betas and residual volatilities against the CSI 300 over the trailing 250 days. Stocks without
history get their board's typical values.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtr

TRADING_MINUTES_PER_DAY = 240
INDEX_CODE = "000300.IDX"
EWMA_LAMBDA = 0.94

#: Typical daily volatility and beta by board for stocks without usable history.
BOARD_DEFAULTS = {
    "main": (0.022, 1.0),
    "chinext": (0.030, 1.2),
    "star": (0.032, 1.25),
    "bse": (0.038, 1.1),
}


@lru_cache
def daily_history() -> pd.DataFrame:
    """The shipped daily bars (see ``data/SOURCE.md``)."""
    path = resources.files("brokercare.monitoring").joinpath("data/a_share_daily_qfq.parquet")
    with resources.as_file(path) as p:
        df = pd.read_parquet(p)
    df["date"] = pd.to_datetime(df["date"])
    return df


def close_matrix(columns: str = "close") -> pd.DataFrame:
    """Dates x codes matrix of one column of the shipped history."""
    return daily_history().pivot(index="date", columns="code", values=columns).sort_index()


@dataclass(frozen=True)
class RiskModel:
    """Per-symbol one-factor parameters, daily units."""

    factor_vol: float
    beta: np.ndarray
    idio_vol: np.ndarray

    @property
    def total_vol(self) -> np.ndarray:
        return np.sqrt(self.beta**2 * self.factor_vol**2 + self.idio_vol**2)


def ewma_vol(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """EWMA volatility along axis 0 (NaNs skipped), the last row's estimate per column."""
    var = np.full(returns.shape[1], np.nan)
    for row in returns:
        ok = ~np.isnan(row)
        fresh = ok & np.isnan(var)
        var[fresh] = row[fresh] ** 2
        upd = ok & ~fresh
        var[upd] = lam * var[upd] + (1 - lam) * row[upd] ** 2
    return np.sqrt(var)


def estimate(
    closes: pd.DataFrame, asof: pd.Timestamp | None = None, window: int = 250
) -> tuple[float, pd.Series, pd.Series]:
    """Factor vol, betas and residual vols of every code, from closes up to ``asof`` (inclusive)."""
    data = closes if asof is None else closes.loc[:asof]
    rets = np.log(data).diff().iloc[-window:]
    market = rets[INDEX_CODE].to_numpy()
    stocks = rets.drop(columns=[INDEX_CODE])
    x = stocks.to_numpy()
    ok = ~np.isnan(x) & ~np.isnan(market)[:, None]
    m = np.where(ok, market[:, None], 0.0)
    xs = np.where(ok, x, 0.0)
    n = ok.sum(axis=0)
    mean_m = m.sum(0) / np.maximum(n, 1)
    mean_x = xs.sum(0) / np.maximum(n, 1)
    cov = ((m - mean_m) * (xs - mean_x) * ok).sum(0) / np.maximum(n - 1, 1)
    var_m = (((m - mean_m) ** 2) * ok).sum(0) / np.maximum(n - 1, 1)
    beta = np.where(n > 60, cov / np.where(var_m > 0, var_m, np.nan), np.nan)
    factor_vol = float(ewma_vol(market[:, None])[0])
    total = ewma_vol(x)
    idio = np.sqrt(np.maximum(total**2 - beta**2 * factor_vol**2, (0.25 * total) ** 2))
    return (
        factor_vol,
        pd.Series(beta, index=stocks.columns),
        pd.Series(idio, index=stocks.columns),
    )


@lru_cache(maxsize=8)
def _estimate_asof(asof: pd.Timestamp | None) -> tuple[float, pd.Series, pd.Series]:
    return estimate(close_matrix(), asof)


def risk_model_for(
    codes: list[str], boards: list[str], asof: pd.Timestamp | None = None
) -> RiskModel:
    """A risk model aligned to ``codes`` (6-digit codes); board defaults where history is missing."""
    factor_vol, beta, idio = _estimate_asof(asof)
    b = np.empty(len(codes))
    e = np.empty(len(codes))
    for i, (code, board) in enumerate(zip(codes, boards, strict=True)):
        vol, beta0 = BOARD_DEFAULTS.get(board, BOARD_DEFAULTS["main"])
        bi, ei = beta.get(code, np.nan), idio.get(code, np.nan)
        if np.isfinite(bi) and np.isfinite(ei):
            b[i], e[i] = bi, ei
        else:
            b[i] = beta0
            e[i] = np.sqrt(max(vol**2 - beta0**2 * factor_vol**2, (0.5 * vol) ** 2))
    return RiskModel(factor_vol, b, e)


def portfolio_vol(
    holdings: sparse.csr_matrix,
    holdings_sq: sparse.csr_matrix,
    prices: np.ndarray,
    model: RiskModel,
) -> tuple[np.ndarray, np.ndarray]:
    """Stock value ``S`` and daily volatility of log(S) per account (row of ``holdings``)."""
    value = holdings @ prices
    exposure = holdings @ (prices * model.beta)
    idio = holdings_sq @ ((prices * model.idio_vol) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (model.factor_vol**2 * exposure**2 + idio) / value**2
    return value, np.sqrt(np.where(value > 0, var, 0.0))


def crossing_probability(
    stock_value: np.ndarray,
    vol_daily: np.ndarray,
    cash: np.ndarray,
    liabilities: np.ndarray,
    line: np.ndarray | float,
    horizon_days: float,
    *,
    first_passage: bool = True,
) -> np.ndarray:
    """P(ratio touches ``line`` within the horizon); 1 where it is already at or below it."""
    barrier = line * liabilities - cash
    s = vol_daily * np.sqrt(horizon_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(stock_value / barrier)
        z = np.where(s > 0, -d / s, -np.inf)
    p = ndtr(z)
    if first_passage:
        p = np.minimum(2.0 * p, 1.0)
    p = np.where(barrier <= 0, 0.0, p)
    p = np.where((barrier > 0) & (stock_value <= barrier), 1.0, p)
    return np.where(liabilities > 0, p, 0.0)
