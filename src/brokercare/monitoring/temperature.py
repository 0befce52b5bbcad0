"""Market temperature (市场温度) per board: a 0-100 heat indicator from one snapshot.

Three observable ingredients, each bounded so none dominates:
- breadth: (advancers - decliners) / quoted stocks, in [-1, 1], weight 25;
- limit balance: tanh((limit-ups - limit-downs) / (2 % of the board)), weight 15;
- activity: tanh(ln(volume / expected volume so far)), signed by breadth (heavy trading in a rally
  is heat, in a sell-off it is panic, i.e. cold), weight 10.
``score = 50 + 25 breadth + 15 limits + 10 activity`` clipped to 0..100, then banded.

Each evaluated snapshot's temperatures are stored per board and minute (a few days of history) and
read back in plain words by the assistant, alerts and the temperature endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.market.service import is_stale
from brokercare.monitoring.engine import Evaluator, trading_minute
from brokercare.monitoring.forecast import TRADING_MINUTES_PER_DAY
from brokercare.monitoring.models import MarketTemperature

TEMPERATURE_HISTORY_DAYS = 3
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


def snapshot_temperatures(
    ev: Evaluator, boards: np.ndarray, volumes: np.ndarray, at: datetime
) -> dict[str, Temperature]:
    """Each board's temperature right after ``ev`` evaluated the snapshot at ``at``."""
    info = ev.info
    return temperatures(
        boards,
        ev.last_price,
        info.prev_close,
        volumes,
        info.avg_volume_20d,
        info.limit_up,
        info.limit_down,
        trading_minute(at) / TRADING_MINUTES_PER_DAY,
    )


def notable(temps: dict[str, Temperature]) -> dict[str, str]:
    """The boards whose mood is worth a sentence in an alert (anything but 正常)."""
    return {b: t.text for b, t in temps.items() if t.band != "正常"}


def record_temperatures(session: Session, temps: dict[str, Temperature], at: datetime) -> None:
    """Store the boards' temperatures of the snapshot at ``at`` (caller commits).

    One row per board and minute, overwritten by the minute's later snapshots, so the history is
    per minute; rows older than ``TEMPERATURE_HISTORY_DAYS`` are dropped when a minute opens.
    """
    if not temps:
        return
    at = at.astimezone(UTC)
    minute = at.replace(second=0, microsecond=0)
    rows = {
        r.board: r
        for r in session.scalars(
            select(MarketTemperature).where(
                MarketTemperature.minute == minute, MarketTemperature.board.in_(list(temps))
            )
        )
    }
    opened = False
    for board, t in temps.items():
        row = rows.get(board)
        if row is None:
            row = MarketTemperature(board=board, minute=minute)
            session.add(row)
            opened = True
        row.at = at
        row.score, row.band = round(t.score, 2), t.band
        row.breadth, row.activity = round(t.breadth, 4), round(t.activity, 4)
        row.limit_up, row.limit_down, row.quoted = t.limit_up, t.limit_down, t.quoted
    if opened:
        session.execute(
            delete(MarketTemperature).where(
                MarketTemperature.minute < minute - timedelta(days=TEMPERATURE_HISTORY_DAYS)
            )
        )
    session.flush()


def _temperature_dict(row: MarketTemperature, now: datetime | None = None) -> dict:
    return {
        **Temperature(
            row.board,
            row.score,
            row.band,
            row.breadth,
            row.limit_up,
            row.limit_down,
            row.activity,
            row.quoted,
        ).as_dict(),
        "at": row.at,
        "stale": is_stale(row.at, now),
        "text": temperature_sentence(row, now),
    }


def temperature_sentence(row: MarketTemperature, now: datetime | None = None) -> str:
    """The temperature in plain words, e.g. for the assistant or an alert. A reading older than the
    market's last trading minute says so and names its day: it is never given as today's."""
    name = BOARD_NAMES.get(row.board, row.board)
    moves = (
        "上涨的股票多于下跌的"
        if row.breadth > 0.05
        else ("下跌的股票多于上涨的" if row.breadth < -0.05 else "涨跌家数大致相当")
    )
    volume = (
        f"成交比近 20 日同一时段多 {row.activity - 1:.0%}"
        if row.activity >= 1.1
        else (
            f"成交比近 20 日同一时段少 {1 - row.activity:.0%}"
            if row.activity <= 0.9
            else "成交量和近 20 日差不多"
        )
    )
    local = row.at.astimezone(SHANGHAI)
    today = (now or utcnow()).astimezone(SHANGHAI).date()
    if is_stale(row.at, now):
        when = f"{local:%m 月 %d 日 %H:%M}" if local.date() != today else f"今天 {local:%H:%M}"
        head = f"目前没有最新行情，最近一次记录是 {when}（不是当前的市场情况）：{name}市场温度"
    else:
        head = f"截至 {local:%m 月 %d 日 %H:%M}，{name}市场温度"
    return (
        f"{head} {row.score:.0f}（{row.band}）："
        f"{moves}，涨停 {row.limit_up} 家、跌停 {row.limit_down} 家，{volume}。"
    )


def latest_temperatures(session: Session, boards: list[str] | None = None, *,
                        now: datetime | None = None) -> dict[str, dict]:
    """The newest stored temperature of each board (all boards when ``boards`` is None), with
    ``stale`` when it is older than the market's last trading minute at ``now``."""
    newest = select(
        MarketTemperature.board, func.max(MarketTemperature.minute).label("minute")
    ).group_by(MarketTemperature.board)
    if boards is not None:
        newest = newest.where(MarketTemperature.board.in_(boards))
    newest = newest.subquery()
    rows = session.scalars(
        select(MarketTemperature)
        .join(
            newest,
            (MarketTemperature.board == newest.c.board)
            & (MarketTemperature.minute == newest.c.minute),
        )
        .order_by(MarketTemperature.board)
    )
    return {r.board: _temperature_dict(r, now) for r in rows}


def temperature_history(session: Session, board: str, minutes: int = 60) -> list[dict]:
    """A board's per-minute temperatures over the last ``minutes`` before its newest, oldest first."""
    last = session.scalar(
        select(func.max(MarketTemperature.minute)).where(MarketTemperature.board == board)
    )
    if last is None:
        return []
    rows = session.scalars(
        select(MarketTemperature)
        .where(
            MarketTemperature.board == board,
            MarketTemperature.minute > last - timedelta(minutes=minutes),
        )
        .order_by(MarketTemperature.minute)
    )
    return [{"at": r.at, "score": r.score, "band": r.band} for r in rows]
