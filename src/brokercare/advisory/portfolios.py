"""Model portfolios per risk level, optimised with cvxpy on real asset-class history.

Why cvxpy: the problem is a small convex QP with exactly the constraints a compliance desk asks
for (a volatility ceiling per level, per-class floors and caps, classes the level may not hold at
all because their products' risk rating fails the suitability check). cvxpy states those
constraints as written, is maintained, and ships the Clarabel interior-point solver, so no extra
dependency is needed; skfolio would add a layer over the same solvers without adding any of this.

Estimation: weekly returns, Ledoit-Wolf-shrunk correlations (scikit-learn) with sample
volatilities, and historical means shrunk towards an equal-Sharpe prior (config
``mean_shrinkage``, ``prior_sharpe``) because ten years of sample means are mostly noise (gold's
2015-2026 run alone would otherwise take every portfolio). Objective: maximise
``mu'w - risk_aversion/2 * w'Σw`` with a small risk aversion, subject to ``w'Σw <= target_vol²``,
so each level's volatility ceiling is what separates the levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import cvxpy as cp
import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf

from brokercare.advisory import regime as regime_mod
from brokercare.advisory import series
from brokercare.advisory.portfolio_config import config
from brokercare.advisory.suitability import LEVELS, check


@dataclass(frozen=True)
class Estimate:
    classes: tuple[str, ...]
    mu: np.ndarray  # annualised expected returns
    sigma: np.ndarray  # annualised covariance


@dataclass
class ModelPortfolio:
    level: str
    strategic: dict[str, float]
    weights: dict[str, float]  # after the regime rule
    expected_return: float
    volatility: float
    regime: regime_mod.Regime
    admissible: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "weights": {k: round(v, 4) for k, v in self.weights.items()},
            "strategic": {k: round(v, 4) for k, v in self.strategic.items()},
            "expected_return": round(self.expected_return, 4),
            "volatility": round(self.volatility, 4),
            "regime": self.regime.to_dict(),
        }


def admissible_classes(level: str) -> list[str]:
    """Classes whose implementing product passes the suitability check for ``level`` outright."""
    return [
        name
        for name, spec in config()["asset_classes"].items()
        if check(level, spec["risk"]).decision == "allow"
    ]


def estimate(daily: pd.DataFrame) -> Estimate:
    cfg = config()["optimiser"]
    classes = tuple(config()["asset_classes"])
    levels = (1.0 + daily[list(classes)]).cumprod()
    weekly = levels.resample(cfg["returns_frequency"]).last().pct_change().dropna()
    n = cfg["periods_per_year"]
    # Shrink the correlations, not the covariance: the classes' variances differ by four orders
    # of magnitude and shrinking towards a scaled identity would give cash a fake 2 % volatility.
    std = weekly.std().to_numpy()
    corr = LedoitWolf().fit((weekly / std).to_numpy()).covariance_
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    sigma = corr * np.outer(std, std) * n
    hist = weekly.mean().to_numpy() * n
    # Prior: every risky class earns the same Sharpe ratio over cash (an equilibrium view).
    vol = std * np.sqrt(n)
    cash = hist[classes.index("money")]
    prior = cash + cfg["prior_sharpe"] * vol
    k = cfg["mean_shrinkage"]
    mu = (1 - k) * hist + k * prior
    mu[classes.index("money")] = cash
    return Estimate(classes, mu, sigma)


def optimise(level: str, est: Estimate) -> dict[str, float]:
    spec = config()["levels"][level]
    risk_aversion = config()["optimiser"]["risk_aversion"]
    allowed = set(admissible_classes(level))
    n = len(est.classes)
    w = cp.Variable(n)
    sigma = cp.psd_wrap((est.sigma + est.sigma.T) / 2)
    cons = [cp.sum(w) == 1, w >= 0]
    for i, name in enumerate(est.classes):
        if name not in allowed:
            cons.append(w[i] == 0)
        if name in spec.get("min", {}) and name in allowed:
            cons.append(w[i] >= spec["min"][name])
        if name in spec.get("max", {}):
            cons.append(w[i] <= spec["max"][name])
    risk = cp.quad_form(w, sigma)
    problem = cp.Problem(
        cp.Maximize(est.mu @ w - risk_aversion / 2 * risk), cons + [risk <= spec["target_vol"] ** 2]
    )
    problem.solve(solver=cp.CLARABEL)
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        # The ceiling is below what the floors allow: take the least risky feasible mix.
        problem = cp.Problem(cp.Minimize(risk), cons)
        problem.solve(solver=cp.CLARABEL)
        if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise RuntimeError(f"model portfolio for {level} is infeasible: {problem.status}")
    values = np.clip(np.asarray(w.value, dtype=float), 0.0, None)
    values[values < 1e-4] = 0.0
    values /= values.sum()
    return {name: float(values[i]) for i, name in enumerate(est.classes)}


def _stats(weights: dict[str, float], est: Estimate) -> tuple[float, float]:
    w = np.array([weights.get(c, 0.0) for c in est.classes])
    return float(est.mu @ w), float(np.sqrt(w @ est.sigma @ w))


def build(as_of: date | None = None, *, high_volatility: bool | None = None) -> dict[str, ModelPortfolio]:
    """Every level's model on data up to ``as_of`` (default: all shipped history).

    ``high_volatility`` overrides the measured regime (what-if views and tests).
    """
    daily = series.daily_returns()
    if as_of is not None:
        daily = daily.loc[: pd.Timestamp(as_of)]
    est = estimate(daily)
    state = regime_mod.current(as_of)
    if high_volatility is not None:
        state = regime_mod.Regime(state.as_of, state.realised_vol, state.percentile, high_volatility)
    out = {}
    for level in LEVELS:
        strategic = optimise(level, est)
        weights = regime_mod.apply(strategic, state.high)
        ret, vol = _stats(weights, est)
        out[level] = ModelPortfolio(level, strategic, weights, ret, vol, state, admissible_classes(level))
    return out


@lru_cache
def current_models() -> dict[str, ModelPortfolio]:
    """The models served today (cached per process: the shipped history changes only on release)."""
    return build()


def weight_matrix(models: dict[str, ModelPortfolio]) -> np.ndarray:
    """Levels × asset classes, in ``LEVELS`` and config order: the batch engine's input."""
    classes = list(config()["asset_classes"])
    return np.array([[models[lv].weights.get(c, 0.0) for c in classes] for lv in LEVELS])
