"""Market temperature (市场温度) per board: a 0-100 heat indicator from one snapshot.

Three observable ingredients, each bounded so none dominates:
- breadth: (advancers - decliners) / quoted stocks, in [-1, 1], weight 25;
- limit balance: tanh((limit-ups - limit-downs) / (2 % of the board)), weight 15;
- activity: tanh(ln(volume / expected volume so far)), signed by breadth (heavy trading in a rally
  is heat, in a sell-off it is panic, i.e. cold), weight 10.
``score = 50 + 25 breadth + 15 limits + 10 activity`` clipped to 0..100, then banded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANDS = ((20, "过冷"), (40, "偏冷"), (60, "正常"), (80, "偏热"), (101, "过热"))
BOARD_NAMES = {"main": "主板", "chinext": "创业板", "star": "科创板", "bse": "北交所"}


@dataclass(frozen=True)
class Temperature:
    board: str
    score: float
    band: str
    breadth: float
    limit_up: int
    limit_down: int
    activity: float  # volume so far / expected volume so far
    quoted: int

    @property
    def text(self) -> str:
        return (
            f"当前{BOARD_NAMES.get(self.board, self.board)}情绪{self.band}（温度 {self.score:.0f}）"
        )

    def as_dict(self) -> dict:
        return {
            "board": self.board,
            "board_name": BOARD_NAMES.get(self.board, self.board),
            "score": round(self.score, 1),
            "band": self.band,
            "breadth": round(self.breadth, 4),
            "limit_up": self.limit_up,
            "limit_down": self.limit_down,
            "activity": round(self.activity, 3),
            "quoted": self.quoted,
        }


def band_of(score: float) -> str:
    for upper, name in BANDS:
        if score < upper:
            return name
    return BANDS[-1][1]


def temperatures(
    boards: np.ndarray,
    prices: np.ndarray,
    prev_close: np.ndarray,
    volumes: np.ndarray,
    avg_volume: np.ndarray,
    limit_up: np.ndarray,
    limit_down: np.ndarray,
    elapsed_fraction: float,
) -> dict[str, Temperature]:
    out: dict[str, Temperature] = {}
    quoted = ~np.isnan(prices) & (prev_close > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = prices / prev_close - 1
        at_up = quoted & (prices >= limit_up - 1e-9)
        at_down = quoted & (prices <= limit_down + 1e-9)
    for board in np.unique(boards):
        sel = quoted & (boards == board)
        n = int(sel.sum())
        if n == 0:
            continue
        adv = int((change[sel] > 0).sum())
        dec = int((change[sel] < 0).sum())
        breadth = (adv - dec) / n
        lu, ld = int(at_up[sel].sum()), int(at_down[sel].sum())
        limits = float(np.tanh((lu - ld) / max(0.02 * n, 1.0)))
        known = sel & (avg_volume > 0)
        if known.any() and elapsed_fraction > 0:
            act = float(volumes[known].sum() / (avg_volume[known].sum() * elapsed_fraction))
        else:
            act = 1.0
        activity = float(np.tanh(np.log(max(act, 1e-6)))) * float(np.sign(breadth))
        score = float(np.clip(50 + 25 * breadth + 15 * limits + 10 * activity, 0, 100))
        out[str(board)] = Temperature(str(board), score, band_of(score), breadth, lu, ld, act, n)
    return out
