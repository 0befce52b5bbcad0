"""`brokercare monitor replay` on real one-minute bars and on minute bars built from real daily
history, checked against an independent pandas computation of the documented trigger rules."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from tests.monitoring.brokerage import small_brokerage
from typer.testing import CliRunner

from brokercare.accounts.models import Account, Position
from brokercare.cli import app
from brokercare.monitoring.bars import minute_bars
from brokercare.monitoring.calibration import MINUTE_BARS

runner = CliRunner()
LIMIT = {"300750": 0.20, "600519": 0.10}


def independent_triggers(bars: pd.DataFrame, x: float, y: int) -> set[tuple]:
    out = set()
    bars = bars.copy()
    t = pd.to_datetime(bars["datetime"])
    bars["epoch"] = ((t - pd.Timestamp("1970-01-01")).dt.total_seconds() - 8 * 3600).astype("int64")
    bars["day"] = t.dt.date
    prev_close: dict[str, float] = {}
    for day in sorted(bars["day"].unique()):
        for code, g in bars[bars["day"] == day].groupby("code"):
            p = g["price"].to_numpy()
            e = g["epoch"].to_numpy()
            m = e // 60
            last = {"move_up": -np.inf, "move_down": -np.inf}
            for i in range(len(p)):
                win = (m >= m[i] - y) & (m <= m[i])  # the price exactly y minutes ago counts
                rise, fall = p[i] / p[win].min() - 1, p[i] / p[win].max() - 1
                for rule, ch in (("move_up", rise), ("move_down", fall)):
                    if abs(ch) >= x and e[i] - last[rule] >= y * 60:
                        last[rule] = e[i]
                        out.add((code, g["datetime"].iloc[i], rule, round(ch * 100, 2)))
            if code in prev_close:
                pc = prev_close[code]
                up = np.floor(pc * (1 + LIMIT[code]) * 100 + 0.5 + 1e-9) / 100
                down = np.floor(pc * (1 - LIMIT[code]) * 100 + 0.5 + 1e-9) / 100
                for rule, hit in (("limit_up", p >= up - 1e-9), ("limit_down", p <= down + 1e-9)):
                    if hit.any():
                        i = int(np.argmax(hit))
                        out.add(
                            (code, g["datetime"].iloc[i], rule, round((p[i] / pc - 1) * 100, 2))
                        )
            prev_close[code] = float(p[-1])
    return out


def _holders(session, symbol: str) -> set[int]:
    return set(
        session.scalars(
            select(Account.customer_id)
            .join(Position, Position.account_id == Account.id)
            .where(Position.symbol == symbol)
        )
    )


def _keys(triggers: list[dict]) -> set[tuple]:
    return {
        (t["code"], t["time"][:19].replace("T", " "), t["rule"], t["change_pct"]) for t in triggers
    }


def test_replay_matches_an_independent_computation(session, tmp_path):
    small_brokerage(session)
    session.commit()
    # 2024-09-26 .. 2024-10-09: the September 2024 rally and the sharp reversal after the holiday
    bars = minute_bars(["300750", "600519"], date(2024, 9, 26), date(2024, 10, 9))
    assert len(bars) == 2 * 240 * 5
    path = tmp_path / "bars.csv"
    bars.to_csv(path, index=False)
    result = runner.invoke(
        app, ["monitor", "replay", str(path), "--move-pct", "5", "--window-min", "10", "--json"]
    )
    assert result.exit_code == 0, result.output
    triggers = json.loads(result.output)
    got = _keys(triggers)
    expected = independent_triggers(bars, 0.05, 10)
    assert expected, "the rally and reversal produce triggers"
    assert got == expected
    holders = _holders(session, "300750.SZ")
    for t in triggers:
        if t["code"] == "300750":
            assert set(t["customers"]) == holders  # everyone holding it, under the replay's rule
        assert {"code", "time", "rule", "change_pct", "customers"} <= set(t)


@pytest.mark.parametrize(("pct", "window"), [(1.0, 10), (0.5, 5)])
def test_replay_on_real_minute_bars_matches_an_independent_computation(session, pct, window):
    """The shipped real 1-minute bars of 贵州茅台 (2026-03-23..27) replayed as they are."""
    small_brokerage(session)
    session.commit()
    path = resources.files("brokercare.monitoring").joinpath(MINUTE_BARS)
    with resources.as_file(path) as p:
        bars = pd.read_csv(p, dtype={"code": str})
        result = runner.invoke(
            app,
            [
                "monitor",
                "replay",
                str(p),
                "--move-pct",
                str(pct),
                "--window-min",
                str(window),
                "--json",
            ],
        )
    assert result.exit_code == 0, result.output
    triggers = json.loads(result.output)
    got = _keys(triggers)
    expected = independent_triggers(bars, pct / 100, window)
    # at 1 %: the fall after the open on the 23rd and the jump on the 27th; at 0.5 %, many more
    assert {rule for _, _, rule, _ in expected} == {"move_up", "move_down"}
    assert got == expected
    holders = _holders(session, "600519.SH")
    assert holders and all(set(t["customers"]) == holders for t in triggers)


def test_replay_table_output_and_bad_files(session, tmp_path):
    small_brokerage(session, 5)
    session.commit()
    good = tmp_path / "snap.csv"
    good.write_text(
        "datetime,code,price\n2026-06-16 10:00:00,600519,1500\n2026-06-16 10:05:00,600519,1420\n",
        "utf-8",
    )
    ok = runner.invoke(app, ["monitor", "replay", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "move_down" in ok.output and "1 triggers" in ok.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "datetime,code,price\n2026-06-16 10:00:00,600519,abc\nyesterday,600519,10\n", "utf-8"
    )
    res = runner.invoke(app, ["monitor", "replay", str(bad)])
    assert res.exit_code == 2
    assert "line 2" in res.output and "line 3" in res.output
    missing = tmp_path / "cols.csv"
    missing.write_text("time,code\n", "utf-8")
    res = runner.invoke(app, ["monitor", "replay", str(missing)])
    assert res.exit_code == 2 and "datetime,code,price" in res.output
    res = runner.invoke(app, ["monitor", "replay", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "file not found" in res.output
