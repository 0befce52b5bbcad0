"""The compliance guard every reply passes, templated or drafted by an LLM.

Rules (each violation names its rule and the offending text):

- ``promise``: no promise of return or capital guarantee (保本, 稳赚, 保证收益, 翻倍, 零风险 …).
  Negated wording is risk disclosure and passes ("不保本", "不能保证收益", "并非无风险").
- ``suitability``: no product above the customer's risk level offered as something to buy.
- ``advice``: no individual buy/sell instruction, target price or tip — the assistant is not a
  licensed investment adviser; it may explain options, never tell a customer to trade a security.
- ``privacy``: no identity number, phone number, bank card or account number other than the
  customer's own (already masked) ones — so no other customer's data can leave in a reply.
- ``risk_wording``: a reply that talks about investing must say the risk, in plain words; when the
  wording is missing the guard adds it (action ``rewrite``) instead of blocking.

:func:`inspect_request` looks at the customer's message for attempts to obtain a promise, another
customer's data, insider tips or a purchase above their level, so the reply can decline plainly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
LEVEL_MAX = {"C1": "R1", "C2": "R2", "C3": "R3", "C4": "R4", "C5": "R5", "professional": "R5"}

_NEGATION = re.compile(r"(不|没有|没|并非|并不|无法|不能|不会|不可能|不得|不敢|不承诺|谈不上|不存在|非)[^，。！？,.!?]{0,5}$")

_DECLINING = re.compile(r"不会|不能|不得|不建议|不推荐|并不|不适合|无法|不可以|没法")

PROMISE = re.compile(
    r"保本|保底|保息|保收益|保证收益|保证(?:您|你)?(?:的)?(?:本金|回报|盈利|赚|不亏)|稳赚|包赚|稳赢|稳拿|只赚不赔|稳赚不赔|"
    r"零风险|无风险|没有(?:任何)?风险|绝对安全|百分之百(?:安全|赚)|100%(?:安全|赚|收益)|一定(?:能)?(?:赚|涨|盈利|回本)|"
    r"肯定(?:能)?(?:赚|涨|回本|盈利)|必涨|必赚|稳涨|只涨不跌|翻倍|翻番|刚性兑付|刚兑|保证(?:年化|每年|每月)|"
    r"收益(?:有|有绝对)?保障|不会亏|亏不了|稳稳(?:的|地)?(?:收益|赚)"
)
ADVICE = re.compile(
    r"(?:建议|推荐)(?:您|你)?(?:现在|立即|马上|赶紧|尽快|明天|今天)?(?:买入|卖出|抛售|抛出|清仓|满仓|加仓|补仓|抄底|割肉|梭哈|全仓|重仓|追涨)|"
    r"(?:赶紧|马上|立刻|立即)(?:买入|卖出|抛掉|清仓|抄底|割肉)|目标价|必涨股|牛股推荐|内幕消息|内部消息|"
    r"(?:明天|下周|马上)(?:肯定|一定|必然)(?:涨|跌|涨停)|(?:推荐|给您推荐)(?:一只|几只|只)(?:股票|牛股)"
)
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
LONG_NUMBER = re.compile(r"(?<![\d*])\d{10,19}(?![\d*])")
BUY_WORDS = re.compile(r"推荐|建议|可以买|适合您|值得买|买入|申购|购买|入手|配置")
INVEST_TALK = re.compile(r"基金|股票|理财|产品|配置|仓位|持仓|收益|投资|债券|减仓|加仓|调仓|组合|逆回购|可转债|两融|融资")
RISK_WORDING = re.compile(r"风险|可能亏|亏损|不保本|不代表未来|波动|谨慎")

HUMAN_RISK_NOTE = "提醒一句：投资都有亏损的可能，过去的收益不代表以后，请按自己能承受的波动和用钱时间来安排。"


@dataclass
class Violation:
    rule: str
    text: str
    message: str

    def as_dict(self) -> dict:
        return {"rule": self.rule, "text": self.text, "message": self.message}


@dataclass
class GuardVerdict:
    passed: bool
    action: str  # pass, rewrite, block
    text: str
    violations: list[Violation] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "action": self.action, "violations": [v.as_dict() for v in self.violations]}


@dataclass
class GuardContext:
    """What the guard knows about the customer being answered."""

    risk_level: str | None = None  # C1..C5 or professional; None = unknown/expired
    own_numbers: frozenset[str] = frozenset()  # the customer's own account/holder numbers
    product_risks: dict[str, str] = field(default_factory=dict)  # product name -> R1..R5


def _negated(text: str, start: int) -> bool:
    return bool(_NEGATION.search(text[max(0, start - 8) : start]))


def _sentences(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for part in re.split(r"(?<=[。！？!?；;\n])", text):
        if part:
            out.append((pos, part))
            pos += len(part)
    return out


def check(text: str, context: GuardContext | None = None) -> GuardVerdict:
    """Check a reply; returns the text to send (with risk wording added if needed) and the verdict."""
    ctx = context or GuardContext()
    violations: list[Violation] = []
    for m in PROMISE.finditer(text):
        if not _negated(text, m.start()):
            violations.append(Violation("promise", m.group(0), "不得承诺收益或保本"))
    for m in ADVICE.finditer(text):
        if not _negated(text, m.start()):
            violations.append(Violation("advice", m.group(0), "不得给出具体证券的买卖建议"))
    for pattern, what in ((ID_NUMBER, "身份证号"), (PHONE, "手机号")):
        for m in pattern.finditer(text):
            violations.append(Violation("privacy", m.group(0)[:3] + "…", f"回复中不得出现{what}"))
    for m in LONG_NUMBER.finditer(text):
        if m.group(0) not in ctx.own_numbers and not ID_NUMBER.fullmatch(m.group(0)) and not PHONE.fullmatch(m.group(0)):
            violations.append(Violation("privacy", m.group(0)[:3] + "…", "回复中出现了不属于该客户的账号或卡号"))
    top = LEVEL_MAX.get(ctx.risk_level or "")
    for name, risk in ctx.product_risks.items():
        if risk not in RISK_LEVELS:
            continue
        too_high = top is None and risk >= "R3" or (top is not None and risk > top)
        if not too_high:
            continue
        for _start, sentence in _sentences(text):
            if name in sentence and BUY_WORDS.search(sentence) and not _DECLINING.search(sentence[: sentence.find(name)]):
                violations.append(Violation("suitability", name, f"{name}（{risk}）超出客户的风险承受能力，不得推荐"))
                break
    for m in re.finditer(r"(?:推荐|建议|适合)(?:您|你)?(?:购买|买|配置)?[^。！？]{0,12}?(R[1-5])", text):
        risk = m.group(1)
        if not _negated(text, m.start()) and ((top is None and risk >= "R3") or (top is not None and risk > top)):
            violations.append(Violation("suitability", m.group(0), f"{risk}级产品超出客户的风险承受能力"))
    if violations:
        return GuardVerdict(False, "block", text, violations)
    if INVEST_TALK.search(text) and not RISK_WORDING.search(text):
        return GuardVerdict(True, "rewrite", text.rstrip() + "\n" + HUMAN_RISK_NOTE,
                            [Violation("risk_wording", "", "补充了风险提示")])
    return GuardVerdict(True, "pass", text)


# -- the customer's side ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    kind: str  # guarantee, other_customer, insider_tip, above_level, stock_tip
    text: str


_WHO = r"(?:别人|他人|其他客户|别的客户|其他人|某某|客户|大户|VIP|朋友|家人|亲戚|老公|老婆|丈夫|妻子|爸|妈|父亲|母亲|儿子|女儿|同事|邻居|领导|张三|李四|王五)"
_PRIVATE = r"(?:账户|账号|持仓|仓位|余额|资产|手机号|电话|身份证|住址|地址|卡号|密码|交易记录|流水|信息|资料)"

_REQUESTS = (
    ("guarantee", re.compile(r"保本|保证|承诺|稳赚|包赚|保赚|不会亏|不亏|亏不了|零风险|无风险|没风险|翻倍|翻番|稳赢|保底|兜底|"
                             r"肯定赚|一定赚|肯定涨|一定涨|刚兑|本金安全|稳定收益|包你|打包票|百分百|100%")),
    ("other_customer", re.compile(_WHO + r"[^，。？?]{0,10}" + _PRIVATE + r"|客户名单|客户信息|客户资料|"
                                  r"(?:查|看|告诉我|发我|给我|导出)[^，。？?]{0,6}(?:别人|他人|其他客户|客户)")),
    ("insider_tip", re.compile(r"内幕|内部消息|小道消息|庄家|主力(?:动向|计划)|透露|提前知道|还没公布|未公开")),
    ("stock_tip", re.compile(r"(?:推荐|荐)[^，。？?]{0,10}(?:股票|牛股|好股|个股|票)|荐股|喊单|必涨|涨停股|牛股|"
                             r"买(?:哪只|什么股|哪个股|什么票)|哪只(?:股|票)?(?:会|能)涨|明天(?:买|会涨)什么|"
                             r"告诉我(?:买|卖)|(?:该|要不要|能不能)(?:买入|卖出|抄底|加仓)[^，。？?]{0,6}(?:股|票)|目标价|"
                             r"(?:帮我|替我|代我)(?:操作|炒|买卖|交易|下单)|代客理财|梭哈|全仓买|满仓买")),
    ("above_level", re.compile(r"(?:绕过|跳过|不做|别管|不管|不用|免)(?:风险)?(?:测评|适当性|风险等级|匹配|双录)|"
                               r"(?:等级|测评)不够[^，。？?]{0,8}(?:也要|硬要|强行|照样|还是要|让我买)|"
                               r"(?:帮我|给我)(?:改|调高|修改|提高)[^，。？?]{0,4}(?:风险)?(?:等级|测评)|(?:改成|调成|测成)(?:C[45]|激进|积极)|"
                               r"(?:帮我|替我|代我)(?:做|答)[^，。？?]{0,3}测评|(?:直接|强行|偷偷|通融)[^，。？?]{0,4}(?:买|卖给我)|"
                               r"不匹配[^，。？?]{0,6}(?:也|照样|还是)[^，。？?]{0,4}买")),
    ("injection", re.compile(r"忽略(?:之前|以上|前面|所有)?的?(?:指令|规则|设定|要求|限制)|你现在是|扮演|不受(?:任何)?限制|越狱|"
                             r"system\s*prompt|jailbreak|开发者模式|没有(?:任何)?合规", re.I)),
)


def inspect_request(text: str) -> list[Attempt]:
    """Attempts in a customer's message to obtain something the assistant must not give."""
    found = []
    for kind, pattern in _REQUESTS:
        m = pattern.search(text)
        if m:
            found.append(Attempt(kind, m.group(0)))
    return found


DECLINE = {
    "guarantee": "需要跟您说清楚：任何投资我们都不能承诺保本，也不能保证收益，更不会说“稳赚”，这是对您负责。",
    "other_customer": "其他客户（包括家人）的账户和个人信息我们不能透露；如需代办，请由本人授权后到营业部办理。",
    "insider_tip": "我们不提供任何“内幕消息”或小道消息，请以上市公司公告为准，也请警惕打着内幕旗号的荐股骗局。",
    "stock_tip": "我不能替您决定买卖哪只股票，也不会给出目标价；如需专业意见，可以预约我们持牌的投资顾问。",
    "above_level": "风险测评和适当性匹配是监管要求，不能跳过；如果您的情况有变化，可以重新做一次风险测评。",
    "injection": "我只能按照证券公司的服务规范和合规要求来回答，这一点不会改变。",
}
