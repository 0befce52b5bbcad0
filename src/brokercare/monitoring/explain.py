"""Chinese explanations of alerts: what happened, what it means for this customer's holding."""

from __future__ import annotations

import math
from datetime import date

from brokercare.core.amounts import format_amount


def shares(qty: float) -> str:
    return f"{qty:,.0f} 股"


def pct(x: float, digits: int = 1) -> str:
    return f"{abs(x) * 100:.{digits}f}%"


def _pnl_since_cost(qty: float, price: float, cost: float) -> str:
    pnl = qty * (price - cost)
    if cost <= 0:
        return ""
    word = "浮盈" if pnl >= 0 else "浮亏"
    return f"按成本价 {cost:.2f} 元计算，目前{word}约 {format_amount(pnl, absolute=True)}。"


def move(
    name: str,
    code: str,
    window: int,
    change: float,
    price: float,
    reference: float,
    qty: float,
    cost: float,
    temperature: str | None = None,
) -> tuple[str, str]:
    down = change < 0
    verb = "下跌" if down else "上涨"
    delta = qty * (price - reference)
    word = "浮亏" if down else "浮盈"
    title = f"{name} {window} 分钟内{verb} {pct(change)}"
    body = (
        f"{name}（{code}）{window} 分钟内{verb} {pct(change)}，现价 {price:.2f} 元。"
        f"您持有 {shares(qty)}，这 {window} 分钟{word}约 {format_amount(delta, absolute=True)}；{_pnl_since_cost(qty, price, cost)}"
    )
    if temperature:
        body += f"{temperature}。"
    return title, body


def limit(
    name: str,
    code: str,
    up: bool,
    price: float,
    change: float,
    qty: float,
    cost: float,
    temperature: str | None = None,
) -> tuple[str, str]:
    """A limit touch; a notable market temperature tells whether the whole board is moving."""
    what = "涨停" if up else "跌停"
    sign = "+" if change >= 0 else "-"
    title = f"{name} 触及{what}"
    note = (
        "封板期间买入不易成交，开板后波动可能加大。"
        if up
        else "跌停期间卖出委托可能难以成交，请留意次日风险。"
    )
    body = (
        f"{name}（{code}）触及{what}价 {price:.2f} 元（较昨收 {sign}{pct(change)}）。"
        f"您持有 {shares(qty)}，市值约 {format_amount(qty * price)}；{_pnl_since_cost(qty, price, cost)}{note}"
    )
    if temperature:
        body += f"{temperature}。"
    return title, body


def below(ratio: float) -> str:
    """A ratio under a line, rounded down to 0.01 %: 129.996 % is "129.99%", never "130.0%" beside
    "低于平仓线 130%"."""
    return f"{math.floor(ratio * 10_000) / 100:.2f}%"


def volume_spike(name: str, code: str, ratio: float, qty: float, price: float) -> tuple[str, str]:
    title = f"{name} 成交量异常放大"
    body = (
        f"{name}（{code}）今日成交量已是近 20 日平均水平的 {ratio:.1f} 倍（按已交易时间折算），"
        f"交投异常活跃，现价 {price:.2f} 元。您持有 {shares(qty)}，市值约 {format_amount(qty * price)}。"
    )
    return title, body


def margin_crossing(
    contract_no: str,
    ratio: float,
    line: float,
    liquidation: float,
    zone: int,
    deadline: date,
    days: int,
    shortfall: float,
) -> tuple[str, str]:
    if zone >= 2:
        title = "维持担保比例已低于平仓线"
        body = (
            f"您的信用账户（合同 {contract_no}）维持担保比例已降至 {below(ratio)}，低于平仓线 "
            f"{liquidation:.0%}。请在 {deadline.month} 月 {deadline.day} 日（{days} 个交易日内）收市前"
            f"追加担保物约 {format_amount(shortfall)} 或自行减仓归还融资，否则我司将按合同约定强制平仓。"
        )
    else:
        title = "维持担保比例低于警戒线"
        body = (
            f"您的信用账户（合同 {contract_no}）维持担保比例降至 {below(ratio)}，低于警戒线 "
            f"{line:.0%}。请在 {deadline.month} 月 {deadline.day} 日（{days} 个交易日内）收市前"
            f"追加担保物约 {format_amount(shortfall)} 或自行减仓，使比例回到 {line:.0%} 以上；"
            f"若跌破平仓线 {liquidation:.0%}，账户可能被强制平仓。"
        )
    return title, body


def margin_forecast(
    contract_no: str, ratio: float, line: float, which: str, prob: float, minutes: int
) -> tuple[str, str]:
    name = "警戒线" if which == "warning" else "平仓线"
    title = f"维持担保比例可能在 {minutes} 分钟内跌破{name}"
    body = (
        f"根据您信用账户（合同 {contract_no}）持仓的近期波动和相关性估算，未来 {minutes} 分钟内"
        f"维持担保比例（当前 {ratio:.0%}）跌破{name} {line:.0%} 的概率约为 {prob:.0%}。"
        f"您可以提前准备补充担保物或降低融资负债，以免临近收市时被动处理。"
    )
    return title, body
