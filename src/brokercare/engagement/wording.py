"""One customer's daily report as a document: the figures and the plain-Chinese sentences.

The document is a JSON-able dict (stored, rendered to HTML and PDF, and compared in tests), built
from the partition's frames (:mod:`engagement.daily`) for one customer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import polars as pl

from brokercare.core.amounts import format_amount
from brokercare.engagement.daily import (
    CONCENTRATION_HIGH,
    DRAWDOWN_DEEP,
    DRAWDOWN_WATCH,
    TOP_CONTRIBUTORS,
    DailyFrames,
)

_RISK_NAMES = {"1": "低风险", "2": "中低风险", "3": "中风险", "4": "中高风险", "5": "高风险"}
_LEVEL_NAMES = {"C1": "保守型", "C2": "谨慎型", "C3": "稳健型", "C4": "积极型", "C5": "激进型"}
_MARGIN_STATES = {
    "normal": "处于正常区间",
    "below_warning": "已低于警戒线",
    "below_liquidation": "已低于平仓线",
}


def _pct(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "—"
    return f"{x * 100:+.2f}%" if signed else f"{x * 100:.2f}%"


def _gain(x: float) -> str:
    """盈利 / 亏损 with the amount (no sign: the word says it)."""
    if abs(x) < 0.005:
        return "持平"
    return f"{'盈利' if x > 0 else '亏损'} {format_amount(x, absolute=True, yuan_digits=2)}"


def _headline(s: dict) -> str:
    if s["holdings"] == 0 and abs(s["day_pnl"]) < 0.005:
        return f"您今日没有持仓，账户现金 {format_amount(s['cash'], yuan_digits=2)}。"
    ret = f"，收益率 {_pct(s['day_return'])}" if s["day_return"] is not None else ""
    return (f"今日您的持仓合计{_gain(s['day_pnl'])}{ret}。收盘后股票及基金市值 "
            f"{format_amount(s['market_value'], yuan_digits=2)}，现金 {format_amount(s['cash'], yuan_digits=2)}，"
            f"总资产 {format_amount(s['total_assets'], yuan_digits=2)}。")


def _by_impact(x: dict) -> tuple[float, str]:
    """Largest P&L first, ties by symbol: rows arrive in no fixed order from a parallel engine."""
    return -abs(x["day_pnl"]), x["symbol"]


def _drivers(lines: list[dict], total: float) -> list[str]:
    movers = sorted((x for x in lines if abs(x["day_pnl"]) >= 0.005), key=_by_impact)
    out = []
    for x in movers[:TOP_CONTRIBUTORS]:
        change = f"（当日涨跌 {_pct(x['day_change'])}）" if x["day_change"] is not None else ""
        share = ""
        if abs(total) >= 0.005 and (x["day_pnl"] > 0) == (total > 0) and abs(x["day_pnl"]) <= abs(total):
            share = f"，占今日盈亏的 {abs(x['day_pnl'] / total) * 100:.0f}%"
        traded = "，今日有买卖" if x["bought"] or x["sold"] else ""
        out.append(f"{x['name']}{change}{_gain(x['day_pnl'])}{share}{traded}。")
    return out


def _health(x: dict, level: str | None) -> list[str]:
    out = []
    if x["drawdown"] is not None and x["drawdown"] <= DRAWDOWN_DEEP:
        out.append(f"较成本已下跌 {abs(x['drawdown']) * 100:.1f}%，亏损较深，建议重新评估持有理由。")
    elif x["drawdown"] is not None and x["drawdown"] <= DRAWDOWN_WATCH:
        out.append(f"较成本下跌 {abs(x['drawdown']) * 100:.1f}%，请留意。")
    if x["concentrated"]:
        out.append(f"占您持仓市值的 {x['weight'] * 100:.0f}%，超过 {CONCENTRATION_HIGH * 100:.0f}%，持仓较集中。")
    if x["above_risk"]:
        rating = _RISK_NAMES.get((x["risk_rating"] or "")[1:], x["risk_rating"])
        out.append(f"产品风险等级为{rating}（{x['risk_rating']}），高于您的风险承受能力"
                   f"（{_LEVEL_NAMES.get(level or '', level)}）。")
    return out


def _high_risk(x: dict) -> list[str]:
    out = []
    if x["near_delisting"]:
        out.append(f"{x['name']}已被实施退市风险警示，存在终止上市的可能，请谨慎评估。")
    elif x["is_st"]:
        out.append(f"{x['name']}为 ST 股票（其他风险警示），涨跌幅限制更严，波动风险较大。")
    if x["limit_down_days"] and x["limit_down_days"] >= 2:
        out.append(f"{x['name']}已连续 {x['limit_down_days']} 个交易日跌停，可能难以卖出。")
    return out


def _margin(s: dict) -> dict | None:
    if s["margin_state"] in ("none", None):
        return None
    if s["margin_state"] == "no_debt":
        return {"ratio": None, "state": "no_debt", "sentence": "您的信用账户目前没有负债。"}
    ratio = s["maintenance_ratio"]
    sentence = (f"信用账户维持担保比例 {ratio * 100:.2f}%，{_MARGIN_STATES[s['margin_state']]}"
                f"（警戒线 {s['warning_line'] * 100:.0f}%，平仓线 {s['liquidation_line'] * 100:.0f}%）。")
    if s["margin_state"] == "below_warning":
        sentence += "请在规定时间内追加担保物或归还部分负债。"
    elif s["margin_state"] == "below_liquidation":
        sentence += "请尽快追加担保物或偿还负债，否则可能被强制平仓。"
    return {"ratio": ratio, "state": s["margin_state"], "liabilities": s["liabilities"], "sentence": sentence}


def _notes(notes: list[dict], next_day: date, estimates: dict[str, str]) -> list[str]:
    when = f"{next_day.month}月{next_day.day}日"
    out = []
    for n in notes:
        if n["kind"] == "subscribe":
            out.append(f"{when}可申购新股{n['name']}（申购代码 {n['code']}），发行价 {n['price']:.2f} 元，"
                       f"按您的额度最多可申购 {n['shares']:,} 股。" + estimates.get(n["code"], ""))
        elif n["won"]:
            out.append(f"您申购的{n['name']}中签 {n['shares']:,} 股，请在{when} 16:00 前确保资金账户有 "
                       f"{format_amount(n['amount'], yuan_digits=2)} 可用于缴款。")
        else:
            out.append(f"您申购的{n['name']}将于{when}公布中签结果，如中签需在当日 16:00 前缴款"
                       f"（全部中签最多 {format_amount(n['amount'], yuan_digits=2)}）。")
    return out


def _rounded(frame: pl.DataFrame) -> pl.DataFrame:
    """Money to the fen, ratios to six places: the figures leave the float engine here (a sum's
    last bits depend on the order rows were added in, which threads and databases do not fix)."""
    return frame.with_columns(pl.col(c).round(2 if c in _MONEY else 6)
                              for c, t in frame.schema.items() if t == pl.Float64)


_MONEY = {"day_pnl", "market_value", "start_value", "cost_value", "cash", "total_assets", "bought_amount",
          "liabilities", "margin_assets", "amount"}


def document(summary: dict, lines: list[dict], notes: list[dict], day: date, next_day: date,
             estimates: dict[str, str] | None = None) -> dict:
    """One customer's report from their summary row, lines and notes (rows of the frames);
    ``estimates``: subscription code -> the new share's first-day estimate sentence."""
    s = summary
    held = sorted((x for x in lines if x["quantity"] > 0), key=lambda x: (-x["market_value"], x["symbol"]))
    holdings = [{
        "symbol": x["symbol"], "name": x["name"], "quantity": x["quantity"], "close": x["close"],
        "day_change": x["day_change"], "market_value": x["market_value"], "weight": x["weight"],
        "drawdown": x["drawdown"], "day_pnl": x["day_pnl"], "risk_rating": x["risk_rating"],
        "health": _health(x, s["risk_level"]),
    } for x in held]
    return {
        "customer_no": s["customer_no"], "name": s["name"], "day": day.isoformat(),
        "next_day": next_day.isoformat(), "risk_level": s["risk_level"],
        "summary": {k: s[k] for k in ("day_pnl", "day_return", "market_value", "cash", "total_assets",
                                      "holdings")},
        "headline": _headline(s),
        "drivers": _drivers(lines, s["day_pnl"]),
        "contributors": [{"name": x["name"], "symbol": x["symbol"], "day_pnl": x["day_pnl"]}
                         for x in sorted(lines, key=_by_impact)[:TOP_CONTRIBUTORS * 2]
                         if abs(x["day_pnl"]) >= 0.005],
        "holdings": holdings,
        "high_risk": [t for x in held for t in _high_risk(x)],
        "margin": _margin(s),
        "notes": _notes(sorted(notes, key=lambda n: (n["kind"] != "subscribe", n["code"])), next_day,
                        estimates or {}),
    }


def documents(frames: DailyFrames, day: date, next_day: date,
              estimates: dict[str, str] | None = None) -> Iterator[tuple[int, dict]]:
    """Every customer's report of the partition (the frames are split once, not per customer)."""
    lines = _by_customer(_rounded(frames.lines))
    notes = _by_customer(frames.notes)
    for s in _rounded(frames.summary).iter_rows(named=True):
        cid = s["customer_id"]
        yield cid, document(s, lines.get(cid, []), notes.get(cid, []), day, next_day, estimates)


def _by_customer(frame: pl.DataFrame) -> dict[int, list[dict]]:
    """Rows grouped by customer in one pass (a Polars frame per customer costs more than its rows)."""
    out: dict[int, list[dict]] = {}
    for row in frame.iter_rows(named=True):
        out.setdefault(row["customer_id"], []).append(row)
    return out
