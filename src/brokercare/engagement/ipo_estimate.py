"""What a new share may bring on its first day, estimated from comparable recent listings: the
issues the broker loaded (``brokercare import ipo_issues``: issue price, listing day) that listed
in the last ``LOOKBACK_DAYS`` on the same board — the same industry when there are enough —
and their first day's close in the market's daily bars. Nothing is estimated from fewer than
``MIN_COMPARABLES``; the estimate is a historical statistic, said so in the text, and passes the
compliance guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from brokercare.assistant.service import check_outgoing
from brokercare.market.service import daily_history
from brokercare.monitoring.service import ipo_issues

LOOKBACK_DAYS = 180
MIN_COMPARABLES = 3
#: Shares in one winning lot (一签) by exchange and board (the exchanges' online issuance rules,
#: as in monitoring/data/ipo_rules.yaml; the BSE allots in 100s).
LOT = {("SH", "main"): 1000, ("SH", "star"): 500, ("SZ", "main"): 500, ("SZ", "chinext"): 500, ("BJ", "bse"): 100}
BOARD_NAMES = {"main": "主板", "chinext": "创业板", "star": "科创板", "bse": "北交所"}


@dataclass(frozen=True)
class IpoEstimate:
    code: str  # the subscription code (申购代码)
    symbol: str
    name: str
    comparables: int
    basis: str  # industry, board, none
    median: float | None
    low: float | None  # 25th percentile
    high: float | None  # 75th percentile
    broke: int  # comparables that closed below the issue price on day one
    lot_gain: float | None  # 元 per winning lot at the median
    text: str
    note: str | None = None  # one sentence for the daily report's tomorrow notes


def first_days(session: Session, listed: list[dict]) -> list[dict]:
    """Listed issues with their first day's return (close on the listing day over issue price)."""
    bars = daily_history(session, [i["symbol"] for i in listed]) if listed else pd.DataFrame()
    if bars.empty:
        return []
    close = {(s, d.date()): c for s, d, c in bars[["symbol", "date", "close"]].itertuples(index=False)}
    return [dict(i, first_day=close[(i["symbol"], i["listing_on"])] / float(i["price"]) - 1)
            for i in listed if (i["symbol"], i["listing_on"]) in close]


def estimate(issue: dict, recent: list[dict]) -> IpoEstimate:
    """The estimate for one issue from the first days of ``recent`` listings."""
    board = [r for r in recent if r["board"] == issue["board"] and r["symbol"] != issue["symbol"]]
    same = [r for r in board if issue.get("industry") and r.get("industry") == issue["industry"]]
    chosen, basis = (same, "industry") if len(same) >= MIN_COMPARABLES else (board, "board")
    board_name = BOARD_NAMES.get(issue["board"], issue["board"])
    if len(chosen) < MIN_COMPARABLES:
        return IpoEstimate(issue["code"], issue["symbol"], issue["name"], len(chosen), "none", None, None, None, 0, None,
                           f"{issue['name']}：近{LOOKBACK_DAYS}天{board_name}上市的可比新股不足{MIN_COMPARABLES}只，暂不估算首日表现。")
    returns = np.array([r["first_day"] for r in chosen])
    median, low, high = (float(x) for x in np.percentile(returns, [50, 25, 75]))
    lot = LOT.get((issue["exchange"], issue["board"]), 500)
    pay = float(issue["price"]) * lot
    names = "、".join(r["name"] for r in sorted(chosen, key=lambda r: r["listing_on"], reverse=True)[:3])
    what = f"同为{issue['industry']}行业的" if basis == "industry" else ""
    text = (f"{issue['name']}（发行价{float(issue['price']):.2f}元）：参考近{LOOKBACK_DAYS}天{board_name}上市的"
            f"{len(chosen)}只{what}新股（{names}等），上市首日涨幅的中位数为{median:+.0%}，中间一半落在"
            f"{low:+.0%}～{high:+.0%}，其中{int((returns < 0).sum())}只首日破发。按中位数估算，中一签（{lot}股，"
            f"需缴款{pay:,.0f}元）首日约{median * pay:+,.0f}元。以上为历史统计，新股也可能上市即破发，不代表未来表现，投资有风险。")
    note = (f"参考近期{len(chosen)}只可比新股，上市首日涨幅中位数约{median:+.0%}，其中{int((returns < 0).sum())}只首日破发"
            "（历史统计，不代表未来，新股也有破发风险）。")
    verdict = check_outgoing(text)
    return IpoEstimate(issue["code"], issue["symbol"], issue["name"], len(chosen), basis, median, low, high,
                       int((returns < 0).sum()), round(median * pay, 2), verdict.text,
                       note if check_outgoing(note).action == "pass" else None)


def notes_for(session: Session, day: date) -> dict[str, str]:
    """Subscription code -> the estimate's sentence, for the issues subscribing on ``day`` that
    have one (the daily report's tomorrow notes)."""
    return {e.code: e.note for e in estimates_for(session, day) if e.note}


def estimates_for(session: Session, day: date) -> list[IpoEstimate]:
    """Estimates for every issue subscribing on ``day``."""
    upcoming = ipo_issues(session, subscribe_on=day)
    if not upcoming:
        return []
    recent = first_days(session, ipo_issues(session, listed_from=day - timedelta(days=LOOKBACK_DAYS),
                                            listed_to=day - timedelta(days=1)))
    return [estimate(i, recent) for i in upcoming]
