"""Model portfolios: real optimiser output that respects suitability, bounds and the regime rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from brokercare.advisory import backtest, portfolios, regime, series
from brokercare.advisory.portfolio_config import config
from brokercare.cli import app


@pytest.fixture(scope="module")
def normal():
    return portfolios.build(high_volatility=False)


@pytest.fixture(scope="module")
def stressed():
    return portfolios.build(high_volatility=True)


def test_shipped_history_is_real_and_aligned():
    lv = series.levels()
    assert list(lv.columns) == ["large_cap", "small_cap", "bond", "gold", "money"]
    assert lv.index[0].year == 2015 and lv.index[-1].year == 2026 and len(lv) > 2400
    assert (lv.iloc[0] == 1.0).all() and lv.notna().all().all()
    # The 2015-08 .. 2016-01 A-share slump is in the data: large caps fell more than 15 %.
    assert lv["large_cap"].loc[:"2016-02-01"].min() < 0.85


def test_weights_sum_to_one_and_rise_in_risk(normal):
    equity = []
    for level, model in normal.items():
        w = model.weights
        assert abs(sum(w.values()) - 1) < 1e-6 and min(w.values()) >= 0
        assert model.volatility <= config()["levels"][level]["target_vol"] + 1e-3
        equity.append(w["large_cap"] + w["small_cap"])
    assert equity == sorted(equity) and equity[0] == 0 and equity[-1] > 0.5


def test_models_hold_only_classes_the_level_may_buy(normal):
    assert normal["C1"].weights["money"] == pytest.approx(1.0)
    assert normal["C2"].weights["large_cap"] == 0 and normal["C2"].weights["gold"] == 0
    assert normal["C3"].weights["small_cap"] == 0  # small-cap ETF is R4
    for level, model in normal.items():
        for cls in set(model.weights) - set(model.admissible):
            assert model.weights[cls] == 0, (level, cls)


def test_high_volatility_cuts_equity_by_the_configured_rule(normal, stressed):
    cut = config()["regime"]["equity_cut"]
    for level in ("C3", "C4", "C5"):
        before = normal[level].weights["large_cap"] + normal[level].weights["small_cap"]
        after = stressed[level].weights["large_cap"] + stressed[level].weights["small_cap"]
        assert after == pytest.approx(before * (1 - cut), abs=1e-6)
        assert stressed[level].weights["bond"] > normal[level].weights["bond"]
        assert sum(stressed[level].weights.values()) == pytest.approx(1.0)


def test_regime_uses_only_the_past():
    frame = regime.regime_series()
    day = frame.index[3000]
    truncated = regime.regime_series(series.regime_index().loc[:day])
    assert truncated.iloc[-1]["percentile"] == pytest.approx(frame.loc[day, "percentile"])
    # 2015's crash months are flagged as high volatility.
    assert frame.loc["2015-07-01":"2015-09-30", "high"].mean() > 0.8


def test_backtest_metrics_are_consistent():
    result = backtest.run()
    nav = result.nav
    assert nav.index[0].year == 2016 and (nav.iloc[0] == 1).all()
    m = {lv: result.metrics[lv] for lv in ("C1", "C3", "C5")}
    assert m["C1"].volatility < m["C3"].volatility < m["C5"].volatility
    assert m["C1"].max_drawdown > m["C5"].max_drawdown  # drawdowns are negative
    assert m["C1"].sharpe == pytest.approx(0.0, abs=0.05)  # cash earns the risk-free rate
    manual = float(nav["C5"].iloc[-1]) ** (244 / (len(nav) - 1)) - 1
    assert m["C5"].annual_return == pytest.approx(manual, rel=1e-9)
    assert 0 < result.high_share < 0.5


def test_cli_models_json_is_level_to_weights():
    out = CliRunner().invoke(app, ["advise", "models", "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert set(body) == {"C1", "C2", "C3", "C4", "C5", "regime"}
    assert body["regime"]["regime"] in {"normal", "high_volatility"}
    assert np.isclose(sum(body["C4"].values()), 1.0, atol=1e-3)


def test_backtest_report_is_written(tmp_path):
    out = CliRunner().invoke(app, ["advise", "backtest", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    text = (tmp_path / "backtest.md").read_text(encoding="utf-8")
    assert "| C3 稳健型 |" in text and "max drawdown" in text
    assert (tmp_path / "backtest_nav.png").stat().st_size > 10_000
