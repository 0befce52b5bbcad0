"""Probability that a margin account crosses a line within the next hour.

Model. The account's collateral is cash ``C`` plus stock value ``S``; its liabilities ``L`` are
taken as fixed over the horizon. It crosses line ``k`` (e.g. 1.40) when ``C + S_t <= k L``, i.e.
when ``S_t`` falls to the barrier ``B = k L - C``. Log stock value follows a driftless Brownian
motion with the portfolio's volatility, from a one-factor model of daily returns:
``r_i = beta_i f + e_i`` so ``var(r_p) = sigma_f^2 (sum w_i beta_i)^2 + sum w_i^2 sigma_ei^2``.
With distance ``d = ln(S / B)`` and horizon volatility ``s = sigma_p sqrt(h)``, the reflection
principle gives the first-passage probability ``P = 2 Phi(-d / s)``.

Two variance clocks. Over days (``risk_model_for(..., intraday=False)``) sigma is the EWMA of
close-to-close returns and ``h`` is in trading days. Within the session (the evaluator's horizon
never leaves it) the overnight gap and the opening call auction cannot happen, so the intraday model
keeps the factor model's correlations but rescales every symbol to its open-to-close volatility:
a Rogers-Satchell range estimate of each day's open-to-close variance (drift-robust, uses the
daily open/high/low/close), EWMA-smoothed like the close-to-close one. ``h`` is then the share of
the session's variance the horizon carries, read from a time-of-day variance curve
(:func:`session_variance_curve`, the U-shape: busy after the open, quiet after lunch) fitted on a
training slice of the shipped 5-minute bars; the calibration is run on the other days.

Everything is vectorised over accounts through sparse holdings matrices, so the whole margin book
is priced in a few sparse matrix-vector products per snapshot; the time of day costs one scalar.

Parameters come from daily history known the evening before: EWMA volatility (RiskMetrics,
lambda 0.94), betas and residual volatilities against the CSI 300 over the trailing 250 days.
Stocks without history get their board's typical values (intraday: times the median
open-to-close / close-to-close volatility ratio of the stocks that have history).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtr

from brokercare.accounts.service import maintenance_ratio

TRADING_MINUTES_PER_DAY = 240
INDEX_CODE = "000300.IDX"
EWMA_LAMBDA = 0.94
EWMA_MIN_PERIODS = 60

#: Real intraday bars shipped (see ``data/SOURCE.md``) and their bar length in minutes.
INTRADAY_BARS = {"data/600519_1min_2026-03.csv": 1, "data/600519_5min_2026-02.csv": 5}
#: The time-of-day variance curve is fitted on the 5-minute sessions up to this day (12 of the 31
#: real sessions); the 60-minute calibration is evaluated on the 19 after it.
PROFILE_TRAINING_END = pd.Timestamp("2026-03-02")

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


@lru_cache
def real_intraday_bars() -> pd.DataFrame:
    """The shipped real intraday bars, one row per bar end time, with ``bar_min`` (1 or 5)."""
    frames = []
    for name, minutes in INTRADAY_BARS.items():
        path = resources.files("brokercare.monitoring").joinpath(name)
        with resources.as_file(path) as p:
            frames.append(pd.read_csv(p, dtype={"code": str}).assign(bar_min=minutes))
    bars = pd.concat(frames, ignore_index=True)
    bars["day"] = pd.to_datetime(bars["datetime"].str[:10])
    return bars


def ewma_variance(squares: pd.DataFrame) -> pd.DataFrame:
    """RiskMetrics EWMA of per-day variance estimates, known at each close (that day included)."""
    return squares.ewm(alpha=1 - EWMA_LAMBDA, adjust=False, min_periods=EWMA_MIN_PERIODS).mean()


def rogers_satchell_variance(o, h, lo, c):
    """One day's open-to-close variance from its range (Rogers-Satchell 1991): unbiased for a
    Brownian motion with any drift, and blind to the overnight gap, which lies before the open."""
    return np.log(h / c) * np.log(h / o) + np.log(lo / c) * np.log(lo / o)


@lru_cache
def intraday_vol_matrix() -> pd.DataFrame:
    """Dates x codes EWMA open-to-close volatility per session, known at each close."""
    o, h, lo, c = (close_matrix(k).astype(np.float64) for k in ("open", "high", "low", "close"))
    return np.sqrt(ewma_variance(rogers_satchell_variance(o, h, lo, c)))


@dataclass(frozen=True)
class RiskModel:
    """Per-symbol one-factor parameters: daily units, or session units for the intraday model
    (there ``beta`` and ``idio_vol`` are scaled by each symbol's open-to-close / close-to-close
    volatility ratio, which keeps the factor model's correlations)."""

    factor_vol: float
    beta: np.ndarray
    idio_vol: np.ndarray

    @property
    def total_vol(self) -> np.ndarray:
        return np.sqrt(self.beta**2 * self.factor_vol**2 + self.idio_vol**2)

    def rescaled(self, scale: np.ndarray) -> RiskModel:
        """Every symbol's volatility times ``scale``, correlations unchanged."""
        return RiskModel(self.factor_vol, self.beta * scale, self.idio_vol * scale)


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
    codes: list[str],
    boards: list[str],
    asof: pd.Timestamp | None = None,
    *,
    intraday: bool = True,
) -> RiskModel:
    """A risk model aligned to ``codes`` (6-digit codes); board defaults where history is missing.

    ``intraday`` (the evaluator's case): session units, open-to-close volatility per symbol."""
    daily = _daily_model(codes, boards, asof)
    if not intraday:
        return daily
    factor_vol, beta, idio = _estimate_asof(asof)
    rs = intraday_vol_matrix()
    known = (rs if asof is None else rs.loc[:asof]).iloc[-1]
    ratio = known.reindex(beta.index) / np.sqrt(beta**2 * factor_vol**2 + idio**2)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    typical = float(ratio.median()) if len(ratio) else 1.0
    return daily.rescaled(np.array([ratio.get(c, typical) for c in codes]))


#: The CSI 300 in a broker's bars (``000300.IDX`` in a bars file is stored as ``000300.SH``).
INDEX_SYMBOL = "000300.SH"
#: The factor's daily volatility when no index history is loaded (the CSI 300's long-run typical).
DEFAULT_FACTOR_VOL = 0.013


def model_from_history(symbols: list[str], boards: list[str], history: pd.DataFrame) -> RiskModel:
    """The intraday risk model of ``symbols`` from a broker's stored daily bars (``symbol, date,
    open, high, low, close``): the same estimates as :func:`risk_model_for`, board defaults for
    symbols without enough history, and every symbol at its board's default without the index."""
    wide = {c: history.pivot(index="date", columns="symbol", values=c).sort_index()
            for c in ("open", "high", "low", "close")} if len(history) else {}
    closes = wide.get("close")
    if closes is None or INDEX_SYMBOL not in closes.columns or closes[INDEX_SYMBOL].count() <= EWMA_MIN_PERIODS:
        none = pd.Series(dtype=float)
        return _model(symbols, boards, (DEFAULT_FACTOR_VOL, none, none))
    factor_vol, beta, idio = estimate(closes.rename(columns={INDEX_SYMBOL: INDEX_CODE}))
    daily = _model(symbols, boards, (factor_vol, beta, idio))
    rs = np.sqrt(ewma_variance(rogers_satchell_variance(*(wide[c].astype(np.float64) for c in
                                                          ("open", "high", "low", "close"))))).iloc[-1]
    ratio = rs.reindex(beta.index) / np.sqrt(beta**2 * factor_vol**2 + idio**2)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    typical = float(ratio.median()) if len(ratio) else 1.0
    return daily.rescaled(np.array([ratio.get(s, typical) for s in symbols]))


def _daily_model(codes: list[str], boards: list[str], asof: pd.Timestamp | None) -> RiskModel:
    return _model(codes, boards, _estimate_asof(asof))


def _model(codes: list[str], boards: list[str], estimates: tuple[float, pd.Series, pd.Series]) -> RiskModel:
    factor_vol, beta, idio = estimates
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


@lru_cache
def session_variance_curve() -> np.ndarray:
    """Share of the open-to-close variance accrued by each trading minute (241 points, 0 -> 1).

    Fitted on the training sessions of the shipped 5-minute bars (up to ``PROFILE_TRAINING_END``):
    the mean squared log return of each 5-minute slot, the first slot measured from the day's open,
    so the opening minutes' jump away from the auction price (about a quarter of the session's
    variance) is booked before any horizon that starts after it. Spread evenly within a slot."""
    bars = real_intraday_bars()
    train = bars[(bars["bar_min"] == 5) & (bars["day"] <= PROFILE_TRAINING_END)]
    opens = close_matrix("open")
    squares = []
    for (code, day), g in train.groupby(["code", "day"]):
        p = np.log(g["price"].to_numpy(np.float64))
        first = np.log(float(opens.at[day, code]))
        squares.append(np.diff(np.concatenate([[first], p])) ** 2)
    slot = np.mean(squares, axis=0)
    per_minute = np.repeat(slot / slot.sum() / 5, 5)
    return np.concatenate([[0.0], np.cumsum(per_minute)])


def session_fraction(curve: np.ndarray | None, start_min: float, end_min: float) -> float:
    """Share of the session's variance between two trading minutes; ``None`` is a flat clock."""
    start = min(max(start_min, 0), TRADING_MINUTES_PER_DAY)
    end = min(max(end_min, start), TRADING_MINUTES_PER_DAY)
    if curve is None:
        return (end - start) / TRADING_MINUTES_PER_DAY
    grid = np.arange(len(curve))
    return float(np.interp(end, grid, curve) - np.interp(start, grid, curve))


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
    horizon: float,
    *,
    first_passage: bool = True,
) -> np.ndarray:
    """P(ratio touches ``line`` within the horizon); 1 where it is already at or below it, 0
    where nothing is owed.

    ``horizon`` is in the volatility's units: trading days for a daily model, the share of the
    session's variance (:func:`session_fraction`) for the intraday one."""
    ratio = maintenance_ratio(cash + stock_value, liabilities)
    barrier = line * liabilities - cash
    s = vol_daily * np.sqrt(horizon)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(stock_value / barrier)
        z = np.where(s > 0, -d / s, -np.inf)
    p = ndtr(z)
    if first_passage:
        p = np.minimum(2.0 * p, 1.0)
    p = np.where(barrier <= 0, 0.0, p)
    p = np.where((barrier > 0) & (ratio <= line), 1.0, p)
    return np.where(np.isnan(ratio), 0.0, p)
