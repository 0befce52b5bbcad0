"""Templated replies in natural Chinese, one composer per intent family.

A reply is: an opening that fits the customer's emotion and its intensity, a body built from the
customer's own data (read-only tools) or the knowledge base, and — when the assistant cannot or
should not finish the job — a hand-off to the right human queue. No composer names a product to
buy: options are described as families (货币基金, 债券基金 …) and only those within the
customer's suitability are mentioned. The one product named is the fund a customer asks to buy
themselves ("我想买10万的沪深300基金"), as a proposal they must confirm, with any suitability warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

import yaml
from sqlalchemy.orm import Session

from brokercare.advisory import service as advisory
from brokercare.assistant import tools
from brokercare.assistant.analysis import Analysis
from brokercare.assistant.events import NEED_STATED
from brokercare.assistant.kb import KbHit, KnowledgeBase
from brokercare.assistant.lexicon import DATA
from brokercare.assistant.taxonomy import about_investing, describe, skill_of
from brokercare.core.after_commit import publish_after_commit
from brokercare.core.amounts import format_amount
from brokercare.core.bus import Event
from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import DomainError

HANDOFF_INTENTS = frozenset({"human_agent", "complaint", "legal_dispute"})
#: Intents answered from the customer's own data; an unidentified sender is asked to verify first.
PERSONAL_INTENTS = frozenset({
    "position_diagnosis", "robo_advice", "pnl_query", "transfer_status", "margin_ratio",
    "margin_liquidation", "ipo_subscribe", "commission_query", "account_frozen", "risk_assessment",
    "suitability",
})
#: Board names a customer may use, to the monitoring domain's board codes ("大盘" is the main board).
BOARD_WORDS = (("创业板", "chinext"), ("科创板", "star"), ("北交所", "bse"), ("北证", "bse"))
#: What a temperature band means for someone deciding what to do, without advising a trade.
BAND_NOTES = {
    "过热": "市场情绪很热的时候追高的风险也更大，买卖前请多想想自己的计划和承受能力。",
    "偏热": "市场整体偏强，但个股分化，不宜只看涨幅做决定。",
    "正常": "",
    "偏冷": "市场整体偏弱，短期波动多是整体情绪带动的，不必因为一两天的涨跌仓促决定。",
    "过冷": "市场整体情绪低迷，这时的下跌往往是普遍性的，不一定是您持有的公司本身出了问题；"
            "请按自己的风险承受能力和资金用途理性看待，避免恐慌中仓促操作。",
}
VERIFY_FIRST = "查询您本人的账户信息需要先确认身份：请登录APP后在“在线客服”里问我，或提供资金账号并完成验证。"


#: Why the assistant asks for a person: a stable code (routing rules, reports and the ledger key on
#: it) and the words the agent reads on the workbench.
HANDOFF_REASONS = {
    "intent_needs_human": "这类问题需要人工处理",
    "no_kb_answer": "知识库没有匹配的答案",
    "transfer_pending_anxious": "转账未完成且客户着急",
    "below_liquidation_line": "担保比例低于平仓线",
    "account_restricted": "账户处于冻结或受限状态",
    "compliance_block": "合规检查未通过",
    "angry_customer": "客户情绪激动",
    "low_confidence": "没有把握理解客户的问题",
}


def handoff_reason_zh(code: str | None, intent: str | None = None) -> str | None:
    if code is None:
        return None
    if code == "intent_needs_human" and intent:
        return f"{describe(intent)}需要人工处理"
    return HANDOFF_REASONS.get(code, code)


@dataclass
class Draft:
    text: str
    sources: list[dict] = field(default_factory=list)
    handoff: bool = False
    handoff_reason: str | None = None  # a HANDOFF_REASONS code
    facts: dict = field(default_factory=dict)  # what the tools returned, for an LLM to phrase


def pct(v: float, digits: int = 1) -> str:
    return f"{v * 100:.{digits}f}%"


def opening(analysis: Analysis) -> str:
    strong = analysis.intensity >= 0.75
    return {
        "anxious": "我能理解您现在的担心，遇到这种情况着急很正常，我们先一起把情况看清楚。" if strong
        else "理解您的担心，我们先把情况看清楚。",
        "angry": "非常抱歉让您这么生气，这件事我们会认真处理，不会让您白等。" if strong
        else "抱歉给您带来了不好的体验，我来帮您处理。",
        "disappointed": "很遗憾这次没能让您满意，我尽量帮您把事情理顺。",
        "satisfied": "很高兴能帮到您！",
    }.get(analysis.emotion, "")


def _kb_body(kb: KnowledgeBase, analysis: Analysis) -> tuple[str | None, list[dict]]:
    hits = _same_direction(kb.search(analysis.text, 3, intent=analysis.intent), analysis.text)
    best: KbHit | None = next((h for h in hits if h.matched), None)
    if best is None:
        # A weaker hit is still usable when it belongs to the intent the message was classified as.
        best = next((h for h in hits if h.intent == analysis.intent and h.score >= 0.45), None)
    if best is None:
        return None, []
    return best.answer, [best.as_source()]


def _same_direction(hits: list[KbHit], text: str) -> list[KbHit]:
    """A question that says which way the money goes ("从银行转到证券账户") is never answered with
    the other way's procedure, however close the wording of that entry."""
    wanted = transfer_direction(text)
    if wanted is None:
        return hits
    return [h for h in hits if transfer_direction(h.question) in (None, wanted)]


# -- data-driven composers ------------------------------------------------------------------------
_ASKS_PRICE = re.compile(r"多少钱|什么价|价格|股价|现价|报价|最新价|涨了多少|跌了多少|涨幅|跌幅|几块")


def _quote(session: Session, analysis: Analysis) -> Draft | None:
    """"贵州茅台现在多少钱": the latest price of the named instrument with its time (an old close is
    said to be one); None when the message names no instrument or does not ask for a price."""
    named = analysis.entities_of("stock")
    if not named or not _ASKS_PRICE.search(analysis.text):
        return None
    lines, facts = [], {}
    for entity in named[:3]:
        q = tools.stock_quote(session, entity.value)
        if q is None:
            continue
        change = (f"，较昨收{'上涨' if q['change_pct'] > 0 else '下跌' if q['change_pct'] < 0 else '持平'}"
                  f"{abs(q['change_pct']):.2f}%" if q["change_pct"] is not None else "")
        when = q["time"].astimezone(SHANGHAI) if q["time"] is not None else None
        said = ("参考价（非实时行情）" if when is None else
                f"{_md(when)}收盘价" if q["source"] == "close" else f"{_md(when)} {when:%H:%M} 的最新价")
        lines.append(f"{q['name']}（{q['symbol'][:6]}）{said} {q['price']:,.2f} 元{change}。")
        facts[q["symbol"]] = {"price": str(q["price"]), "time": when.isoformat() if when else None,
                              "stale": q["stale"]}
    if not lines:
        return None
    note = "以上不是实时行情，盘中请以交易软件的报价为准。" if any(f["stale"] for f in facts.values()) else ""
    return Draft("".join(lines) + note, [{"type": "tool", "name": "quote"}], facts={"quotes": facts})


def _temperature(session: Session, boards: list[str]) -> tuple[str, dict]:
    """The current market temperature of ``boards`` in plain words, and the figures behind it."""
    temps = tools.market_temperature(session, boards)
    if not temps:
        return "", {}
    # what a band means is said of today's market only; an old reading is given as what it is
    text = "".join(t["text"] + ("" if t.get("stale") else BAND_NOTES.get(t["band"], "")) for t in temps.values())
    return text, {b: {"score": t["score"], "band": t["band"]} for b, t in temps.items()}


def _market(session: Session, analysis: Analysis, kb: KnowledgeBase) -> Draft | None:
    """"今天大盘怎么样" / "市场是不是过热了": the board's temperature, then the knowledge base."""
    boards = [code for word, code in BOARD_WORDS if word in analysis.text] or ["main"]
    line, facts = _temperature(session, boards)
    if not line:
        return None
    body, sources = _kb_body(kb, analysis)
    text = line + ("\n" + body if body else "")
    return Draft(text, [{"type": "tool", "name": "market_temperature"}] + sources,
                 facts={"temperature": facts})


def _position(session: Session, customer_id: int, analysis: Analysis) -> Draft:
    p = tools.portfolio(session, customer_id)
    if not p.holdings:
        return Draft("我看了一下，您的账户目前没有持仓，可用资金" + format_amount(p.cash, yuan_digits=2) + p.transit_note() + "。"
                     "如果想了解怎么开始投资，可以先做风险测评，我们会按您的承受能力介绍合适的品种。",
                     [{"type": "tool", "name": "portfolio"}])
    lines = [f"您目前持有{len(p.holdings)}只证券，参考市值{format_amount(p.market_value, yuan_digits=2)}{p.price_note()}，"
             f"持仓浮动盈亏{format_amount(p.pnl, yuan_digits=2)}，可用资金{format_amount(p.cash, yuan_digits=2)}"
             f"{p.transit_note()}。"]
    losers = p.losers()[:3]
    if losers:
        detail = "、".join(f"{h.name}（{pct(h.pnl_ratio)}，{format_amount(h.pnl, yuan_digits=2)}）" for h in losers)
        lines.append(f"亏损较多的是：{detail}。")
    conc = p.concentration()
    top = p.largest()
    if top and conc >= 0.4:
        lines.append(f"其中{top.name}占持仓市值的{pct(conc, 0)}，集中度偏高，这只{top.noun}的波动会直接决定账户的涨跌。")
    level = tools.risk_level(session, customer_id)
    lines.append(_options(session, customer_id, level, p))
    sources = [{"type": "tool", "name": "portfolio"}, {"type": "tool", "name": "risk_level"}]
    facts = {"market_value": str(p.market_value), "pnl": str(p.pnl), "cash": str(p.cash),
             "losers": [h.name for h in losers], "concentration": round(conc, 3), "risk_level": level}
    if analysis.emotion == "anxious":  # a worried customer hears how the whole market is doing
        boards = sorted({h.board for h in p.holdings if h.kind == "stock" and h.board})
        line, temps = _temperature(session, boards or ["main"])
        if line:
            lines.insert(1, "从整个市场看，" + line)
            sources.append({"type": "tool", "name": "market_temperature"})
            facts["temperature"] = temps
    return Draft("\n".join(lines), sources, facts=facts)


def _rebalance(session: Session, customer_id: int) -> Draft:
    """"我该怎么调仓": the advisory engine's proposal for this customer (suitability, lots, T+1 and
    fees already applied there), with its own Chinese explanation."""
    advice = advisory.rebalance_advice(session, customer_id)
    lines = [advice.text]
    side = {"buy": "买入", "sell": "卖出"}
    if advice.trades:
        shown = "；".join(f"{side[t['side']]}{t['name']}约{format_amount(t['amount'], yuan_digits=2)}"
                         for t in advice.trades[:5])
        lines.append(f"参考调整：{shown}。")
    lines.append("这是按您的风险等级给出的参考，不构成收益承诺；是否调整、何时调整由您决定，"
                 "也可以预约持牌投资顾问一起看。")
    return Draft("\n".join(lines), [{"type": "tool", "name": "rebalance_advice"}],
                 facts={"status": advice.status, "level": advice.level, "drift": advice.drift,
                        "trades": len(advice.trades)})


#: What a customer may do about a worrying portfolio, by the product risk it needs: described, never
#: sold. Derivatives (股指期货, 期权) are not among them: they need their own account and
#: qualification, and a worried retail customer is not the one to offer them to.
#: In the order they are offered: what lowers a worried customer's swings first, cash last.
_OPTION_FAMILIES = (
    ("R2", "用一部分资金配置债券基金，降低整个账户的波动"),
    ("R3", "把集中在一两只股票上的仓位分散到更宽的指数基金"),
    ("R1", "短期要用的钱留在货币基金、国债逆回购这类波动很小的品种里"),
)
#: A reply read on a phone lists at most this many options (issue 14 item 11).
MAX_OPTIONS = 3


def _options(session: Session, customer_id: int, level: str | None, p: tools.Portfolio) -> str:
    """At most :data:`MAX_OPTIONS` short options, one per line, that the customer's risk level allows."""
    if level is None:
        return ("具体怎么调整要结合您的风险承受能力，但您的风险测评缺失或已过期，建议先重新做一次测评，"
                "再和我们持牌的投资顾问一起看；在此之前请不要因为一时的涨跌匆忙操作。")
    steps = ["先想清楚这笔钱多久要用，短期要用的钱不适合放在波动大的品种里"]
    top = p.largest()
    if top is not None and p.concentration() >= 0.4:
        steps.append(f"分批降低{top.name}的占比，不必一次性决定")
    steps += [text for risk, text in _OPTION_FAMILIES
              if tools.suitability_check(session, customer_id, risk).decision == "allow"]
    listed = "\n".join(f"{i}. {step}" for i, step in enumerate(steps[:MAX_OPTIONS], 1))
    return (f"结合您的风险等级（{level}），可以考虑：\n{listed}\n"
            "这些是调整思路，不是买卖建议；需要的话我帮您预约持牌投资顾问一起看。")


def _pnl(session: Session, customer_id: int, analysis: Analysis) -> Draft:
    p = tools.portfolio(session, customer_id)
    text = (f"您的账户总资产约{format_amount(p.total_assets, yuan_digits=2)}，"
            f"其中证券市值{format_amount(p.market_value, yuan_digits=2)}、可用资金{format_amount(p.cash, yuan_digits=2)}"
            f"{p.transit_note()}；"
            f"按参考价计算，持仓浮动盈亏为{format_amount(p.pnl, yuan_digits=2)}。")
    if p.trades_today:
        text += f"今天共有{p.trades_today}笔成交，已实现盈亏（扣除费用后）约{format_amount(p.today_realised, yuan_digits=2)}。"
    else:
        text += "今天没有成交，当日涨跌以APP“持仓”页的实时参考盈亏为准。"
    return Draft(text, [{"type": "tool", "name": "portfolio"}],
                 facts={"total_assets": str(p.total_assets), "pnl": str(p.pnl), "today_realised": str(p.today_realised)})


def _transfers(session: Session, customer_id: int, analysis: Analysis, kb: KnowledgeBase) -> Draft:
    rows = tools.recent_transfers(session, customer_id, limit=3)
    status_zh = {"pending": "处理中", "done": "已成功", "failed": "失败（资金会原路退回）"}
    if not rows:
        body, sources = _kb_body(kb, analysis)
        return Draft("我没有查到您近期的银证转账记录。" + (body or ""), sources + [{"type": "tool", "name": "transfers"}])
    r = rows[0]
    when = r.occurred_at.astimezone(SHANGHAI).strftime("%m月%d日 %H:%M")
    direction = "银行转证券" if r.direction == "in" else "证券转银行"
    text = f"查到您最近一笔{direction}：{when}，金额{format_amount(r.amount, yuan_digits=2)}，{r.bank or '存管银行'}，状态{status_zh.get(r.status, r.status)}。"
    handoff = False
    if r.status == "pending":
        text += "处理中的转账一般几分钟内完成；如果超过一个交易日仍未到账，我会为您转交专人核查。"
    elif r.status == "failed":
        text += "失败的转账不会扣款，已扣的会原路退回；常见原因是不在转账时间、超过银行限额或银行卡状态异常。"
    elif r.direction == "out":
        text += "证券端已经转出成功，银行入账偶尔会有延迟，请以银行流水为准；超过一个交易日没到的话请告诉我，我来转人工核查。"
    if analysis.intent == "transfer_status" and analysis.emotion in ("anxious", "angry") and r.status != "done":
        handoff = True
    return Draft(text, [{"type": "tool", "name": "transfers"}], handoff,
                 "transfer_pending_anxious" if handoff else None,
                 facts={"last_transfer": {"direction": r.direction, "amount": str(r.amount), "status": r.status}})


# Which way the money goes, from how customers say it: "转5万到银行卡", "取出3000", "从工行转2万进来".
_OUT_CUES = re.compile(r"(转|取|提|汇|划|打)(回|到|至|出|现|给)?[^，。！？]{0,6}(银行|卡)|转出|取出|提现|出金|取钱|转走")
_IN_CUES = re.compile(r"(从|由)[^，。！？]{0,8}(银行|行|卡)[^，。！？]{0,4}(转|存|划)|转入|存入|入金|转进|"
                      r"转到[^，。！？]{0,4}(证券|股票|资金)账户|到证券账户|银转证|转[^，。！？]{0,6}进(来|去)")
# "昨天转出的3万块怎么还没到银行卡？" asks about a transfer made, not for a new one.
_ASKS_STATUS = re.compile(r"没到|到账了?吗|怎么还|为什么|昨天|前天|了吗|了没|转了|转的|转出的|转入的|进度|失败")
_CONFIRM = re.compile(r"^\s*(好的?|是的?|对|确认|确定|没问题)?[，,]?\s*(确认|确定)(转账|转出|转入|办理)?"
                      r"\s*[。！!.]*\s*$")
TRANSFER_STATES_ZH = {"confirmed": "已经办理成功，资金已到账", "sent": "已提交银行，银行正在处理",
                      "requested": "已受理，正在提交银行", "held": "已受理，为保障资金安全需风控复核，复核后自动办理"}


def transfer_direction(text: str) -> str | None:
    """``in``, ``out``, or None when the message does not say (then the assistant asks)."""
    inbound = bool(_IN_CUES.search(text))
    outbound = bool(_OUT_CUES.search(text))
    if inbound == outbound:
        return None
    return "in" if inbound else "out"


def _card(t) -> str:
    return f"{t.bank_name or '存管银行'}（尾号{t.card_tail}）的银行卡"


def _propose_transfer(customer_id: int, analysis: Analysis) -> Draft:
    amount = Decimal(analysis.entities_of("amount")[0].value)
    direction = transfer_direction(analysis.text)
    if direction is None:
        return Draft(f"好的，{format_amount(amount, yuan_digits=2)}。请问是从银行卡转入证券账户，"
                     "还是从证券账户转出到银行卡？")
    try:
        t = tools.propose_transfer(customer_id, direction, amount)
    except DomainError as exc:
        return Draft(f"这笔转账现在办理不了：{exc.detail}", [{"type": "tool", "name": "transfers"}])
    way = f"从证券账户转出到{_card(t)}" if direction == "out" else f"从{_card(t)}转入证券账户"
    return Draft(f"请确认：{way}，金额 {format_amount(t.amount, yuan_digits=2)}。确认办理请回复“确认转账”，"
                 "10 分钟内有效；不需要的话忽略即可。", [{"type": "tool", "name": "transfers"}],
                 facts={"proposed_transfer": {"direction": direction, "amount": str(t.amount)}})


def _confirmed_transfer(customer_id: int, analysis: Analysis) -> Draft | None:
    """"确认转账" after a proposal: do it. None when nothing waits for a confirmation."""
    if not _CONFIRM.match(analysis.text):
        return None
    try:
        t = tools.confirm_transfer(customer_id)
    except DomainError as exc:
        return Draft(f"这笔转账没有办理：{exc.detail}", [{"type": "tool", "name": "transfers"}])
    if t is None:
        return None
    way = "证券转银行" if t.direction == "out" else "银行转证券"
    said = TRANSFER_STATES_ZH.get(t.state, f"没有办理成功：{t.reason or '请稍后再试'}")
    return Draft(f"您的{way} {format_amount(t.amount, yuan_digits=2)}（流水号尾号 {t.transfer_no[-6:]}）{said}。",
                 [{"type": "tool", "name": "transfers"}],
                 facts={"transfer": {"transfer_no": t.transfer_no, "state": t.state}})


# "确认购买" after a fund proposal (a plain "确认" too, when no transfer waits for one).
_CONFIRM_BUY = re.compile(r"^\s*(好的?|是的?|对|没问题)?[，,]?\s*(确认|确定)(购买|申购|买入|办理)?\s*[。！!.]*\s*$")
# "我想买10万的沪深300基金", "申购2万黄金基金": a purchase, not a question about one.
_BUYS_FUND = re.compile(r"(买|申购|购买|定投|入)[^，。！？]{0,12}基金|基金[^，。！？]{0,6}(申购|买入)")


def _md(day) -> str:
    return f"{day.month} 月 {day.day} 日"


def _propose_fund(session: Session, customer_id: int, analysis: Analysis) -> Draft:
    amount = Decimal(analysis.entities_of("amount")[0].value)
    choice = tools.fund_to_buy(session, customer_id, analysis.text)
    tool = [{"type": "tool", "name": "fund_orders"}]
    if choice.symbol is None:
        known = f"，例如{'、'.join(choice.candidates)}" if choice.candidates else ""
        return Draft(f"好的，{format_amount(amount, yuan_digits=2)}。请告诉我您要申购的场外基金的 6 位代码"
                     f"或全称{known}。基金投资有风险，净值可能下跌。", tool)
    try:
        o = tools.propose_fund_subscription(customer_id, choice.symbol, amount)
    except DomainError as exc:
        return Draft(f"这笔申购现在办理不了：{exc.detail}", tool)
    what = (f"申购{o.fund_name}（{o.symbol.split('.')[0]}），金额 {format_amount(o.amount, yuan_digits=2)}，"
            f"申购费 {o.fee:,.2f} 元，按 {_md(o.nav_day)}的净值计算份额，{_md(o.confirm_day)}确认")
    facts = {"proposed_fund_order": {"symbol": o.symbol, "amount": str(o.amount), "nav_day": str(o.nav_day)}}
    if o.warning:
        return Draft(f"{o.warning}\n您要办理的是：{what}。如果您了解上述风险后仍要申购，请回复“确认购买”，"
                     "视为您本人确认已知晓该产品风险高于本人风险承受能力，我们会记录这次确认；10 分钟内有效。",
                     tool, facts=facts)
    return Draft(f"请确认：{what}。基金净值会波动，可能亏损本金。确认办理请回复“确认购买”，10 分钟内有效；"
                 "不需要的话忽略即可。", tool, facts=facts)


def _confirmed_fund(customer_id: int, analysis: Analysis) -> Draft | None:
    """"确认购买" after a fund proposal: place it. None when nothing waits for a confirmation."""
    if not _CONFIRM_BUY.match(analysis.text):
        return None
    try:
        o = tools.confirm_fund_subscription(customer_id)
    except DomainError as exc:
        return Draft(f"这笔申购没有办理：{exc.detail}", [{"type": "tool", "name": "fund_orders"}])
    if o is None:
        return None
    return Draft(f"您的{o.fund_name}申购 {format_amount(o.amount, yuan_digits=2)}（订单号尾号 {o.order_no[-6:]}）"
                 f"已受理，按 {_md(o.nav_day)}的净值计算份额，预计 {_md(o.confirm_day)}确认；"
                 f"{_md(o.nav_day)} 15:00 前可以撤单。基金投资有风险，净值可能下跌。",
                 [{"type": "tool", "name": "fund_orders"}],
                 facts={"fund_order": {"order_no": o.order_no, "state": o.state}})


def _margin(session: Session, customer_id: int, analysis: Analysis, kb: KnowledgeBase) -> Draft:
    views = tools.margin_views(session, customer_id)
    if not views:
        body, sources = _kb_body(kb, analysis)
        return Draft("您目前没有融资融券（信用）账户。" + (body or ""), sources)
    parts, handoff = [], False
    for v in views:
        if v.ratio is None:
            parts.append("信用账户目前没有负债，不存在平仓风险。")
            continue
        line = (f"您的信用账户维持担保比例约为{pct(float(v.ratio))}"
                f"（总资产{format_amount(v.assets, yuan_digits=2)} ÷ 总负债{format_amount(v.liabilities, yuan_digits=2)}），"
                f"合同约定警戒线{pct(float(v.warning_line), 0)}、平仓线{pct(float(v.liquidation_line), 0)}。")
        if v.ratio < v.liquidation_line:
            need = v.shortfall_to(v.warning_line)
            line += (f"目前已低于平仓线，请在{v.topup_days}个交易日内追加担保物或还款；"
                     f"大约需要补入{format_amount(need, yuan_digits=2)}才能回到警戒线以上，否则可能被强制平仓。我马上为您转接两融专员。")
            handoff = True
        elif v.ratio < v.warning_line:
            line += f"已低于警戒线，建议尽快补充担保物或偿还部分负债，离平仓线还有{pct(float(v.ratio - v.liquidation_line))}的空间。"
        else:
            line += "目前在警戒线以上。"
        parts.append(line)
    return Draft("".join(parts), [{"type": "tool", "name": "margin_status"}], handoff,
                 "below_liquidation_line" if handoff else None,
                 facts={"ratios": [str(v.ratio) for v in views]})


def _ipo(session: Session, customer_id: int, analysis: Analysis, kb: KnowledgeBase) -> Draft:
    q = tools.ipo_quota(session, customer_id)
    quota = q["quota"]
    text = q["message"]
    if not q["banned_until"] and max(quota.values()) > 0:
        today = [f"{i['name']}（申购代码{i['code']}）最多可申购{i['can_apply']:,}股" for i in q["issues"] if i["can_apply"]]
        if today:
            text += "今天可以申购的新股：" + "；".join(today) + "。"
        text += "申购时不用预先缴款，中签后T+2日16:00前账户里留足资金即可。"
    return Draft(text, [{"type": "tool", "name": "ipo_quota"}],
                 facts={"sh_shares": quota["SH_main"], "sz_shares": quota["SZ"], "star_shares": quota["SH_star"],
                        "window": q["window"]})


def _commission(session: Session, customer_id: int, analysis: Analysis, kb: KnowledgeBase) -> Draft:
    rates = tools.commission_rates(session, customer_id)
    if not rates:
        body, sources = _kb_body(kb, analysis)
        return Draft(body or "您的佣金费率可以在APP“我的-费率查询”中查看。", sources)
    desc = "；".join(f"资金账号尾号{no[-4:]}的佣金费率为万分之{float(r) * 10000:g}" for no, r in rates)
    text = desc + "（买卖双向收取，每笔有最低收费标准）。如果想申请调整，我可以帮您转给客户经理评估。"
    return Draft(text, [{"type": "tool", "name": "commission"}])


def _frozen(session: Session, customer_id: int, analysis: Analysis, kb: KnowledgeBase) -> Draft:
    statuses = tools.account_statuses(session, customer_id)
    body, sources = _kb_body(kb, analysis)
    frozen = [s for s in statuses if s[2] != "active"]
    kind_zh = {"cash": "普通账户", "margin": "信用账户"}
    state_zh = {"frozen": "冻结", "closed": "已销户", "active": "正常"}
    if frozen:
        text = "查到您的" + "、".join(f"{kind_zh.get(k, k)}（尾号{no[-4:]}）状态为{state_zh.get(s, s)}" for no, k, s in frozen) + "。"
        text += (body or "") + "具体原因需要专人核实，我已为您转接账户安全专员。"
        return Draft(text, sources + [{"type": "tool", "name": "account_status"}], True, "account_restricted")
    text = "我查了一下，您的账户目前状态正常。" + (body or "")
    return Draft(text, sources + [{"type": "tool", "name": "account_status"}])


def _risk(session: Session, customer_id: int, analysis: Analysis, kb: KnowledgeBase) -> Draft:
    level = tools.risk_level(session, customer_id)
    body, sources = _kb_body(kb, analysis)
    names = {"C1": "保守型", "C2": "谨慎型", "C3": "稳健型", "C4": "积极型", "C5": "激进型"}
    if level is None:
        head = "您的风险测评缺失或已经过期，需要重新测评后才能购买产品或开通业务。"
    else:
        head = f"您当前的风险等级是{level}（{names.get(level, level)}）。"
    return Draft(head + (body or ""), sources + [{"type": "tool", "name": "risk_level"}])


def compose(session: Session, customer_id: int, analysis: Analysis, kb: KnowledgeBase, *,
            may_transact: bool = True) -> Draft:
    """The templated reply for the message's top intent. ``may_transact=False`` (staff asking on a
    customer's behalf, a suggestion drafted for an agent): no transfer is proposed or confirmed."""
    intent = analysis.intent
    if intent == "out_of_scope" and (quoted := _quote(session, analysis)) is not None:
        return quoted
    if intent == "out_of_scope":
        return Draft("这个问题超出了我能服务的范围，我主要负责证券账户、交易、理财和两融等业务。"
                     "您可以换个方式问我和证券业务相关的问题。")
    if intent == "chitchat":
        return Draft("您好，我是您的证券智能助手，可以帮您查持仓和收益、转账进度、打新额度、两融担保比例，"
                     "也可以解答开户、交易规则、费用等问题。")
    if customer_id is None and intent in PERSONAL_INTENTS:
        body, sources = _kb_body(kb, analysis)
        return Draft((body + "\n" if body else "") + VERIFY_FIRST, sources)
    if intent in ("market_quote", "position_diagnosis") and (quoted := _quote(session, analysis)) is not None:
        return quoted
    if may_transact and customer_id is not None and (need := stated_need(analysis)) is not None:
        return _pass_to_manager(session, customer_id, need, analysis)
    if intent == "robo_advice":
        return _rebalance(session, customer_id)
    if intent == "position_diagnosis":
        return _position(session, customer_id, analysis)
    if intent == "pnl_query":
        return _pnl(session, customer_id, analysis)
    if may_transact and customer_id is not None and (done := _confirmed_transfer(customer_id, analysis)) is not None:
        return done
    if may_transact and customer_id is not None and (done := _confirmed_fund(customer_id, analysis)) is not None:
        return done
    if (may_transact and customer_id is not None and intent == "fund_trade" and analysis.entities_of("amount")
            and _BUYS_FUND.search(analysis.text)):
        return _propose_fund(session, customer_id, analysis)
    if (may_transact and customer_id is not None and intent == "bank_transfer" and analysis.entities_of("amount")
            and not _ASKS_STATUS.search(analysis.text)):
        return _propose_transfer(customer_id, analysis)
    if customer_id is not None and intent in ("transfer_status", "bank_transfer") and (
            intent == "transfer_status" or analysis.entities_of("amount")):
        return _transfers(session, customer_id, analysis, kb)
    if intent in ("margin_ratio", "margin_liquidation"):
        return _margin(session, customer_id, analysis, kb)
    if intent == "ipo_subscribe":
        return _ipo(session, customer_id, analysis, kb)
    if intent == "commission_query":
        return _commission(session, customer_id, analysis, kb)
    if intent == "account_frozen":
        return _frozen(session, customer_id, analysis, kb)
    if intent in ("risk_assessment", "suitability"):
        return _risk(session, customer_id, analysis, kb)
    if intent == "market_quote" and (draft := _market(session, analysis, kb)) is not None:
        return draft
    body, sources = _kb_body(kb, analysis)
    if intent in HANDOFF_INTENTS:
        text = {
            "human_agent": "好的，我这就为您转接人工客服，请稍候；您刚才说的内容会一并转给同事，不用再重复。",
            "complaint": "您反映的问题我已经完整记录，马上转给投诉处理专员，紧急问题24小时内会有人联系您。",
            "legal_dispute": "这类问题涉及法律程序，我为您转接专门的同事，他们会告诉您需要准备的材料。",
        }[intent]
        return Draft(text + ("\n" + body if body and intent != "human_agent" else ""), sources, True,
                     "intent_needs_human")
    if body:
        return Draft(body, sources)
    return Draft(f"关于{describe(intent)}，我暂时没有找到准确的答案，我把您的问题转给{_queue(intent)}的同事，"
                 "他们会尽快回复您。", [], True, "no_kb_answer")


@dataclass(frozen=True)
class StatedNeed:
    need: str
    topic: str
    follow_up: str
    patterns: tuple[re.Pattern, ...]


@cache
def stated_needs() -> tuple[StatedNeed, ...]:
    raw = yaml.safe_load(DATA.joinpath("stated_needs.yaml").read_text(encoding="utf-8"))
    return tuple(StatedNeed(n["need"], n["topic"], n["follow_up"], tuple(re.compile(p) for p in n["patterns"]))
                 for n in raw["needs"])


def stated_need(analysis: Analysis) -> StatedNeed | None:
    """A need the customer states in a message about investing that their manager should take up."""
    if not about_investing(analysis.intent) and analysis.intent not in ("robo_advice", "goal_planning"):
        return None
    return next((n for n in stated_needs() if any(p.search(analysis.text) for p in n.patterns)), None)


def _pass_to_manager(session: Session, customer_id: int, need: StatedNeed, analysis: Analysis) -> Draft:
    """Not a rebalancing answer: the customer's manager takes the need up (``customer.need_stated``
    becomes engagement's lead once the message is stored)."""
    manager = tools.manager_of(session, customer_id)
    who = f"您的客户经理{manager}" if manager else "我们的客户经理"
    publish_after_commit(session, Event(NEED_STATED, {"need": need.need, "said": analysis.text[:200]},
                                        customer_id=customer_id))
    return Draft(f"明白，{need.topic}要结合您的用款时间、整体资产和风险承受能力来规划，不是简单调整持仓能解决的。"
                 f"我已把您的需求转给{who}，会在工作时间主动联系您，和您一起看{need.follow_up}。",
                 [{"type": "tool", "name": "manager_follow_up"}], facts={"stated_need": need.need})


def _queue(intent: str) -> str:
    return {"trading": "交易服务", "margin": "两融业务", "funds": "理财业务", "account_service": "账户服务",
            "account_security": "账户安全", "tax": "税务", "legal": "法务", "complaints": "客户服务"}.get(
        skill_of(intent) or "", "客服")
