"""Walk-forward backtest of every model portfolio, written as a Markdown report with charts.

No look-ahead: the strategic weights are re-optimised once a year on history up to that day, the
volatility regime is read each month-end from trailing data only, and the portfolio drifts with the
market between month-end rebalances. Each rebalance pays ``cost_bps`` on the turnover (ETF
commission and spread). The dynamic models are compared with the same models without the regime
rule, so the report shows what the rule actually did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from brokercare.advisory import portfolios, series
from brokercare.advisory import regime as regime_mod
from brokercare.advisory.portfolio_config import config
from brokercare.advisory.suitability import LEVELS, rules

TRADING_DAYS = 244


@dataclass(frozen=True)
class Metrics:
    annual_return: float
    volatility: float
    max_drawdown: float
    sharpe: float
    final_value: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


@dataclass
class BacktestResult:
    start: date
    end: date
    nav: pd.DataFrame  # columns: "<level>" dynamic, "<level>_static" without the regime rule
    metrics: dict[str, Metrics]
    high_share: float  # share of month-ends in the high-volatility regime
    weights_history: dict[str, pd.DataFrame]


def metrics(nav: pd.Series, rf_daily: pd.Series) -> Metrics:
    returns = nav.pct_change().dropna()
    years = len(returns) / TRADING_DAYS
    annual = float(nav.iloc[-1] / nav.iloc[0]) ** (1 / years) - 1
    vol = float(returns.std() * np.sqrt(TRADING_DAYS))
    excess = returns - rf_daily.reindex(returns.index).fillna(0.0)
    sharpe = float(excess.mean() / returns.std() * np.sqrt(TRADING_DAYS)) if vol > 1e-9 else 0.0
    drawdown = float((nav / nav.cummax() - 1).min())
    return Metrics(annual, vol, drawdown, sharpe, float(nav.iloc[-1] / nav.iloc[0]))


@lru_cache(maxsize=4)
def run(cost_bps: float = 10.0) -> BacktestResult:
    """The backtest on the shipped history (cached: it depends only on the data and config)."""
    cfg = config()["backtest"]
    daily = series.daily_returns()
    classes = list(config()["asset_classes"])
    rets = daily[classes].to_numpy()
    dates = daily.index
    start_i = cfg["warmup_days"]
    flags = regime_mod.regime_series()["high"]
    month_end = dates.to_series().groupby(dates.to_period("M")).transform("max") == dates
    years = dates.year.to_numpy()

    strategic: dict[str, np.ndarray] = {}
    navs = {f"{lv}{tag}": np.ones(len(dates) - start_i + 1) for lv in LEVELS for tag in ("", "_static")}
    holdings = {k: None for k in navs}
    weights_rows: dict[str, list] = {lv: [] for lv in LEVELS}
    high_months = months = 0
    cost = cost_bps / 10_000

    for step, i in enumerate(range(start_i, len(dates))):
        day = dates[i - 1]  # decisions use information up to the previous close
        if step == 0 or years[i] != years[i - 1]:
            est = portfolios.estimate(daily.iloc[:i])
            strategic = {lv: np.array([portfolios.optimise(lv, est)[c] for c in classes]) for lv in LEVELS}
        rebalance = step == 0 or bool(month_end.iloc[i - 1])
        high = bool(flags.loc[:day].iloc[-1]) if rebalance else False
        if rebalance:
            months += 1
            high_months += high
        for key in navs:
            level = key[:2]
            value = navs[key][step]
            if rebalance:
                base = dict(zip(classes, strategic[level], strict=True))
                target = regime_mod.apply(base, high and not key.endswith("_static"))
                target_w = np.array([target[c] for c in classes])
                old = holdings[key]
                turnover = np.abs(target_w - (old / old.sum() if old is not None else 0)).sum()
                if step == 0:
                    turnover = 0.0
                value *= 1 - cost * turnover / 2
                holdings[key] = target_w * value
                if not key.endswith("_static"):
                    weights_rows[level].append((dates[i].date(), *target_w, high))
            holdings[key] = holdings[key] * (1 + rets[i])
            navs[key][step + 1] = holdings[key].sum()

    index = dates[start_i - 1 :]
    nav = pd.DataFrame(navs, index=index)
    rf = series.risk_free_daily()
    result_metrics = {k: metrics(nav[k], rf) for k in nav.columns}
    weights_history = {
        lv: pd.DataFrame(rows, columns=["date", *classes, "high_volatility"]).set_index("date")
        for lv, rows in weights_rows.items()
    }
    return BacktestResult(index[0].date(), index[-1].date(), nav, result_metrics,
                          high_months / max(months, 1), weights_history)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def write_report(out_dir: Path, result: BacktestResult | None = None) -> Path:
    """Write ``backtest.md`` with NAV and drawdown charts; returns the report path."""
    # matplotlib (about a second to import) is loaded only by whoever draws the report, and the
    # headless backend must be chosen before pyplot loads.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = result or run()
    out_dir.mkdir(parents=True, exist_ok=True)
    nav = result.nav
    names = {lv: f"{lv} {rules()['investor_levels'][lv]['name']}" for lv in LEVELS}

    fig, ax = plt.subplots(figsize=(10, 5))
    for lv in LEVELS:
        ax.plot(nav.index, nav[lv], label=f"{lv} dynamic")
        ax.plot(nav.index, nav[f"{lv}_static"], linestyle=":", linewidth=0.8, color=ax.lines[-1].get_color())
    ax.set_title("Model portfolios: growth of 1 (walk-forward; dotted = without the regime rule)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "backtest_nav.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    for lv in LEVELS:
        ax.plot(nav.index, nav[lv] / nav[lv].cummax() - 1, label=lv)
    ax.set_title("Drawdown of each model portfolio")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "backtest_drawdown.png", dpi=110)
    plt.close(fig)

    current = portfolios.current_models()
    classes = list(config()["asset_classes"])
    lines = [
        "# Model portfolio backtest",
        "",
        f"Period {result.start} – {result.end}, walk-forward (weights re-optimised each January on "
        "data up to that day; month-end rebalancing; 10 bp per unit of turnover). Data: the shipped "
        "asset-class series (see `src/brokercare/advisory/data/SOURCE.md`). Risk-free rate: the "
        "money-market yield path (modelled; see SOURCE.md). "
        f"Month-ends in the high-volatility regime: {_pct(result.high_share)}.",
        "",
        "| model | annual return | volatility | max drawdown | Sharpe | without regime rule: return / vol / max DD / Sharpe |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for lv in LEVELS:
        m, s = result.metrics[lv], result.metrics[f"{lv}_static"]
        lines.append(
            f"| {names[lv]} | {_pct(m.annual_return)} | {_pct(m.volatility)} | {_pct(m.max_drawdown)} | "
            f"{m.sharpe:.2f} | {_pct(s.annual_return)} / {_pct(s.volatility)} / {_pct(s.max_drawdown)} / {s.sharpe:.2f} |"
        )
    regime = next(iter(current.values())).regime
    lines += [
        "",
        "![growth](backtest_nav.png)",
        "",
        "![drawdown](backtest_drawdown.png)",
        "",
        f"## Models served now (regime: {regime.label}, 20-day vol {_pct(regime.realised_vol)}, "
        f"percentile {regime.percentile:.2f}, as of {regime.as_of})",
        "",
        "| model | " + " | ".join(classes) + " | expected return | expected vol |",
        "|---|" + "---:|" * (len(classes) + 2),
    ]
    for lv, m in current.items():
        lines.append(
            f"| {names[lv]} | " + " | ".join(_pct(m.weights[c]) for c in classes)
            + f" | {_pct(m.expected_return)} | {_pct(m.volatility)} |"
        )
    path = out_dir / "backtest.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
