"""The margin-crossing forecast is calibrated on real daily and minute history (out of sample)."""

from __future__ import annotations

import numpy as np
import pytest

from brokercare.monitoring.calibration import (
    first_passage_samples,
    intraday_first_passage_samples,
    intraday_scaling,
    portfolio_close_samples,
    real_minute_bars,
    table,
)
from brokercare.monitoring.forecast import crossing_probability, daily_history


def _brier(pred, hit):
    return float(np.mean((pred - hit) ** 2))


def test_first_passage_forecast_is_calibrated_on_single_stock_accounts():
    pred, hit = first_passage_samples()
    assert len(pred) > 100_000
    rows = table(pred, hit)
    for row in rows:
        assert row.n > 5_000
        # within 7 percentage points in every bucket: fat tails make the lowest bucket observe ~2 %
        assert abs(row.observed - row.predicted) < 0.07, row
    # ordered: higher predicted buckets see more crossings
    observed = [r.observed for r in rows]
    assert observed == sorted(observed)
    # skill against always predicting the base rate
    assert _brier(pred, hit) < 0.8 * _brier(np.full_like(pred, hit.mean()), hit)


def test_factor_model_portfolio_probability_is_calibrated():
    pred, hit = portfolio_close_samples(n=30_000)
    rows = table(pred, hit)
    for row in rows:
        if row.n >= 1_000:
            assert abs(row.observed - row.predicted) < 0.05, row
    assert _brier(pred, hit) < 0.8 * _brier(np.full_like(pred, hit.mean()), hit)


def test_crossing_probability_edges():
    s = np.array([100.0, 100.0, 100.0, 100.0])
    vol = np.array([0.02, 0.02, 0.0, 0.02])
    cash = np.array([0.0, 0.0, 0.0, 500.0])
    debt = np.array([70.0, 80.0, 70.0, 100.0])
    p = crossing_probability(s, vol, cash, debt, 1.4, 0.25)
    assert p[1] == 1.0  # 100 / 80 = 125 %: already below 140 %
    assert 0.03 < p[0] < 0.06  # 143 %: 2 % of value away with 1 % hourly vol, 2 * Phi(-2.02)
    assert (
        abs(p[0] - 2 * 0.5 * (1 + __import__("math").erf(-np.log(100 / 98) / 0.01 / 2**0.5)))
        < 1e-12
    )
    assert p[2] == 0.0  # no volatility, above the line
    assert p[3] == 0.0  # cash alone covers the line


def test_square_root_of_time_scaling_holds_from_one_to_five_days():
    for h in (2, 5):
        pred, hit = first_passage_samples(horizon_days=h)
        rows = table(pred, hit)
        for row in rows:
            assert abs(row.observed - row.predicted) < 0.07, (h, row)
        observed = [r.observed for r in rows]
        assert observed == sorted(observed)


def test_shipped_minute_bars_agree_with_the_independent_daily_history():
    bars = real_minute_bars()
    daily = daily_history()
    for (_minutes, code, day), g in bars.groupby(["bar_min", "code", "day"]):
        row = daily[(daily["code"] == code) & (daily["date"] == day)].iloc[0]
        assert g["high"].max() == pytest.approx(row["high"], abs=0.005)
        assert g["low"].min() == pytest.approx(row["low"], abs=0.005)
        assert g["price"].iloc[-1] == pytest.approx(row["close"], abs=0.005)
        # volumes are whole lots per minute: the day's total is within a few lots of the daily bar
        assert abs(g["volume"].sum() - row["volume"]) < 500
    sessions = bars.groupby("bar_min")["day"].nunique().to_dict()
    assert sessions == {1: 5, 5: 26}
    assert (bars.groupby(["bar_min", "day"]).size().groupby("bar_min").unique().to_dict()) == {
        1: [241],  # 09:30 auction bar + 240 trading minutes
        5: [48],
    }


def test_sixty_minute_forecast_on_real_minute_bars_is_conservative():
    """On the real intraday bars the forecast over-states hourly crossings (warns early): every
    bucket observes no more than predicted, higher buckets observe more, and the top bucket's
    accounts do mostly cross, so the warning still separates risky accounts from safe ones."""
    pred, hit = intraday_first_passage_samples(horizon_min=60)
    rows = table(pred, hit)
    assert len(rows) == 9 and all(r.n > 2_000 for r in rows)
    for row in rows:
        assert row.observed <= row.predicted + 0.01, row
    observed = [r.observed for r in rows]
    assert observed == sorted(observed)
    assert rows[-1].observed > 0.7
    assert _brier(pred, hit) < _brier(np.full_like(pred, hit.mean()), hit)
    scaling = {s["horizon_min"]: s["ratio"] for s in intraday_scaling()}
    assert 0 < scaling[60] < 1  # realised hourly volatility below sigma * sqrt(1/4)
