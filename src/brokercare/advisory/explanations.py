"""Short Chinese explanations of a customer's proposal, written for the customer, not for a quant.

The text says where the customer stands against their model, what to trade and why, what it costs,
and what the rules (T+1, lots, suitability) changed; it never promises returns.
"""

from __future__ import annotations

import numpy as np

from brokercare.advisory import catalogue
from brokercare.advisory import proposals as engine
from brokercare.advisory.suitability import LEVELS, level_name
from brokercare.core.amounts import format_amount

CLASS_WORDS = {
    "large_cap": "A股大盘股",
    "small_cap": "A股中小盘股",
    "bond": "债券",
    "gold": "黄金",
    "money": "现金和货币基金",
}
DISCLAIMER = "以上是根据您的风险等级给出的配置建议，不构成收益承诺，是否执行由您决定。"


def _about(amount: float) -> str:
    """``约3,560元``, ``约1.4万元``: plan figures, rounded."""
    return format_amount(amount, digits=1, approx=True)


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def explain(result: engine.Proposals, row: int, part: engine.Partition, ctx: engine.Context,
            names: dict[str, str], *, high_volatility: bool = False) -> str:
    """The explanation for customer ``row`` of a partition's proposals."""
    status = int(result.status[row])
    cid = int(result.customer_id[row])
    level_idx = int(part.level[row])
    if status == engine.REASSESS:
        return ("您的风险测评还没有完成或已经过期。为了保证建议适合您，请先花几分钟重新做一次风险测评，"
                "完成后我们会按新的结果为您给出调仓建议。")
    level = level_name(LEVELS[level_idx])
    if status == engine.EMPTY:
        return "您的账户目前没有资产，暂时不需要调仓。入金后，我们可以按您的风险等级（" + level + "）给出配置建议。"
    if status == engine.SMALL and result.total[row] < ctx.min_total:
        return (f"您的账户资产{_about(float(result.total[row]))}，金额较小：场内交易要按整手买卖，每笔佣金最低5元，"
                "现在调仓的成本相对偏高，暂不建议调仓。可以考虑用定投的方式，逐步按"
                f"{level}的模型组合建仓。")
    cur, tgt = result.current[row], result.target[row]
    lines = []
    if status == engine.OK:
        return (f"您的风险等级是{level}。目前各类资产的比例和模型组合基本一致（每类偏离都在"
                f"{_pct(ctx.band)}以内），不需要调仓，继续持有即可。" + DISCLAIMER)
    if status == engine.SMALL:
        return (f"您的风险等级是{level}。您的配置与模型组合有一些偏离，但需要的每笔交易金额都很小，"
                "手续费占比偏高，这次先不调整；下次入金时可以优先买入比例偏低的资产。")

    gaps = sorted(range(len(ctx.classes)), key=lambda j: -abs(cur[j] - tgt[j]))
    parts = []
    for j in gaps[:3]:
        if abs(cur[j] - tgt[j]) < 0.02:
            continue
        parts.append(f"{CLASS_WORDS[ctx.classes[j]]}现在约占{_pct(cur[j])}，模型建议约{_pct(tgt[j])}")
    lines.append(f"您的风险等级是{level}。" + "；".join(parts) + "，偏离比较大，建议做一次调整：")

    idx = result.trades_of(cid)
    sells = [i for i in idx if result.t_side[i] < 0]
    buys = [i for i in idx if result.t_side[i] > 0]
    for label, group in (("卖出", sells), ("买入", buys)):
        for i in group:
            sym = str(ctx.symbols[result.t_inst[i]])
            qty = result.t_qty[i]
            unit = "份" if sym.endswith(".OF") else "股"
            qty_text = f"{qty:,.2f}" if sym.endswith(".OF") else f"{qty:,.0f}"
            lines.append(f"· {label} {names.get(sym, sym)}（{sym.split('.')[0]}）{qty_text}{unit}，{_about(float(result.t_amount[i]))}")
    fee = float(result.t_fee[idx].sum())
    lines.append(f"预计交易费用合计约{fee:,.2f}元（含佣金、印花税和过户费）。先卖后买，卖出所得当天即可用于买入。")

    a, b = int(part.offsets[row]), int(part.offsets[row + 1])
    locked = [int(part.inst[h]) for h in range(a, b) if part.available[h] + 1e-9 < part.qty[h]]
    if locked:
        shown = "、".join(names.get(str(ctx.symbols[j]), str(ctx.symbols[j])) for j in locked[:3])
        lines.append(f"{shown}有今天买入的部分，按T+1规则要下一个交易日才能卖出，本次建议没有动这部分。")
    blocked = [CLASS_WORDS[ctx.classes[j]] for j in np.flatnonzero(result.blocked[row])]
    if blocked:
        lines.append(f"{'、'.join(blocked)}的比例低于模型，但对应产品的风险等级高于您的风险承受能力，"
                     "按适当性要求这次不建议买入，这部分资金暂时留作现金。")
    lines.extend(_over_risk(result, part, ctx, names, row, sells))
    if high_volatility:
        lines.append("另外，近期市场波动处于历史较高水平，模型已按规则临时降低了股票类资产的比例。")
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def _over_risk(result: engine.Proposals, part: engine.Partition, ctx: engine.Context,
               names: dict[str, str], row: int, sells: list[int]) -> list[str]:
    """What the plan does with holdings above the customer's risk tolerance, in the plan's own
    terms: sold in this plan (one adjustment, as the list says), or left for a later one."""
    a, b = int(part.offsets[row]), int(part.offsets[row + 1])
    allowed = ctx.allowed[int(part.level[row])]
    over = [int(part.inst[h]) for h in range(a, b) if not allowed[int(ctx.risk[int(part.inst[h])])]]
    sold = {int(result.t_inst[i]) for i in sells}

    def named(js: list[int]) -> str:
        return "、".join(names.get(str(ctx.symbols[j]), str(ctx.symbols[j])) for j in js[:3])

    out = []
    if in_plan := [j for j in over if j in sold]:
        out.append(f"{named(in_plan)}的风险等级高于您的风险承受能力，上面的卖出清单已包含这部分，"
                   "按清单一次完成即可；如果想分几天卖出，也可以把清单上的数量分批执行。")
    if kept := [j for j in over if j not in sold]:
        out.append(f"{named(kept)}的风险等级高于您的风险承受能力，这次没有卖出，"
                   "建议在以后的调整中逐步降低这部分的比例。")
    return out


def margin_sentence(debt: float, reserved: float) -> str:
    """The margin debt a plan leaves money for (the cash it reserved to repay it first)."""
    if reserved <= 0:
        return (f"您的信用账户还有融资融券负债{_about(debt)}，本建议只调整普通账户的配置；"
                "建议优先偿还负债，以减少利息并让维持担保比例更安全。")
    return (f"您的信用账户还有融资融券负债{_about(debt)}。本建议先为偿还这笔负债留出{_about(reserved)}现金，"
            "只用其余资金调整配置：先还款可以减少利息支出，也让维持担保比例更安全。")


def names_of(ctx: engine.Context, instruments: list[dict]) -> dict[str, str]:
    names = {i["symbol"]: i.get("name") or i["symbol"] for i in instruments}
    for sym in ctx.symbols[np.asarray(ctx.vehicles)].tolist():
        names.setdefault(sym, catalogue.get(sym)["name"])
    return names
