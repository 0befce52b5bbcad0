from __future__ import annotations

import numpy as np

from brokercare.monitoring.temperature import band_of, temperatures


def _market(n, change, up_share=0.0, down_share=0.0, activity=1.0):
    prev = np.full(n, 10.0)
    prices = prev * (1 + change)
    k_up, k_down = int(n * up_share), int(n * down_share)
    prices[:k_up] = 12.0
    prices[k_up : k_up + k_down] = 8.0
    return (
        prev,
        prices,
        np.full(n, 1e6 * 0.5 * activity),
        np.full(n, 1e6),
        np.full(n, 12.0),
        np.full(n, 8.0),
    )


def test_bands():
    assert [band_of(x) for x in (5, 30, 50, 70, 95)] == ["过冷", "偏冷", "正常", "偏热", "过热"]


def test_hot_chinext_and_cold_main_board():
    n = 400
    boards = np.array(["chinext"] * n + ["main"] * n, dtype=object)
    p1, x1, v1, a1, u1, d1 = _market(n, np.linspace(0.0, 0.08, n), up_share=0.08, activity=1.8)
    p2, x2, v2, a2, u2, d2 = _market(n, np.linspace(-0.06, 0.0, n), down_share=0.05, activity=1.6)
    t = temperatures(
        boards,
        np.r_[x1, x2],
        np.r_[p1, p2],
        np.r_[v1, v2],
        np.r_[a1, a2],
        np.r_[u1, u2],
        np.r_[d1, d2],
        0.5,
    )
    assert t["chinext"].band == "过热" and t["chinext"].limit_up == 32
    assert t["chinext"].text.startswith("当前创业板情绪过热")
    assert t["main"].band == "过冷" and t["main"].limit_down == 20
    quiet = temperatures(
        np.array(["main"] * 4, dtype=object),
        np.array([10.0, 10.1, 9.9, 10.0]),
        np.full(4, 10.0),
        np.full(4, 5e5),
        np.full(4, 1e6),
        np.full(4, 11.0),
        np.full(4, 9.0),
        0.5,
    )
    assert quiet["main"].band == "正常"
