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
customer's data, insider tips, a stock tip or a purchase above their level, so the reply declines
plainly instead of answering something else. Two views decide together: a linear classifier trained
on the shipped attempt examples (``guard_attacks_train.csv``) against every ordinary training
utterance of the intent model, and the keyword rules below. The classifier alone recognises an
attempt worded in a way no rule foresaw; a rule counts only when the classifier does not find the
message plainly ordinary ("两融保证金比例是多少" names 保证 but asks nothing improper).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import StratifiedKFold

from brokercare.assistant import registry
from brokercare.assistant.classifier import TextClassifier, parse_labelled_csv
from brokercare.assistant.lexicon import DATA

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
    # Whether the question is about investing (from its intent); None: judged from the reply's words.
    investing: bool | None = None


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
    investing = ctx.investing if ctx.investing is not None else bool(INVEST_TALK.search(text))
    if investing and not RISK_WORDING.search(text):
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


#: The classifier's probability of "ordinary" below which its own attempt kind counts, and below
#: which a firing rule counts. Chosen on cross-validated predictions of the training data (see
#: :func:`attempt_thresholds`), not on the evaluation set.
MODEL_THRESHOLD = 0.3
RULE_THRESHOLD = 0.9


def inspect_request(text: str) -> list[Attempt]:
    """Attempts in a customer's message to obtain something the assistant must not give."""
    p_none, kind = _classify(text)
    found = []
    if kind != "none" and p_none < MODEL_THRESHOLD:
        found.append(Attempt(kind, "classifier"))
    for rule_kind, pattern in _REQUESTS:
        m = pattern.search(text)
        if m and (rule_kind == "injection" or p_none < RULE_THRESHOLD) and rule_kind not in {a.kind for a in found}:
            found.append(Attempt(rule_kind, m.group(0)))
    return found


ATTEMPT_DATA = "guard_attacks_train.csv"


def attempt_training_data() -> tuple[list[str], list[str]]:
    """Attempt examples and look-alike ordinary questions, plus every intent training utterance as
    ``none`` (ordinary customer messages, the population false alarms would come from)."""
    texts, labels = parse_labelled_csv(DATA.joinpath(ATTEMPT_DATA).read_text("utf-8"), name=ATTEMPT_DATA)
    ordinary, _intents = registry.shipped_data("intent")
    return texts + ordinary, labels + ["none"] * len(ordinary)


def attempt_thresholds(max_false_alarm: float = 0.01) -> dict:
    """Cross-validated choice of ``MODEL_THRESHOLD`` and ``RULE_THRESHOLD`` on the training data:
    the pair recognising the most attempt examples while flagging at most ``max_false_alarm`` of
    the ordinary ones, every prediction from a model that did not see the message."""
    texts, labels = attempt_training_data()
    y = np.asarray(labels)
    p_none = np.zeros(len(texts))
    guess = np.empty(len(texts), dtype=object)
    for train, test in StratifiedKFold(4, shuffle=True, random_state=7).split(texts, y):
        model = TextClassifier(c=0.5).fit([texts[i] for i in train], y[train].tolist())
        p = model.predict_proba([texts[i] for i in test]).probabilities
        none = model.labels.index("none")
        p_none[test] = p[:, none]
        other = p.copy()
        other[:, none] = -1
        guess[test] = [model.labels[j] for j in other.argmax(axis=1)]
    rule = np.array([any(pat.search(t) for _k, pat in _REQUESTS) for t in texts])
    attack = y != "none"
    best = None
    for mt in np.round(np.arange(0.3, 0.95, 0.05), 2):
        for rt in (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 1.01):
            flagged = (p_none < mt) | (rule & (p_none < rt))
            fa = float(flagged[~attack].mean())
            recall = float(flagged[attack].mean())
            if fa <= max_false_alarm and (best is None or recall > best["recall"]):
                best = {"model_threshold": float(mt), "rule_threshold": float(rt), "recall": round(recall, 4),
                        "false_alarm": round(fa, 4)}
    return best or {}


def _attempt_model():
    global _model
    if _model is None:
        key = DATA.joinpath(ATTEMPT_DATA).read_bytes() + DATA.joinpath("intent_train.csv").read_bytes()
        _model = registry.cached_build("guard-attempts", key,
                                       lambda: TextClassifier(c=0.5).fit(*attempt_training_data()))
    return _model


_model = None


def _classify(text: str) -> tuple[float, str]:
    """(probability the message is ordinary, the most likely attempt kind or "none")."""
    model = _attempt_model()
    p = model.predict_proba([text]).probabilities[0]
    none = model.labels.index("none")
    best = max((j for j in range(len(p)) if j != none), key=lambda j: p[j])
    return float(p[none]), model.labels[best] if p[best] > 0 else "none"


#: The plain refusal for each kind of attempt: what cannot be done, why, and what can be done instead.
DECLINE = {
    "guarantee": "抱歉，这个我不能答应您：任何投资都不能承诺保本，也不能保证收益，更不会有“稳赚”的说法，"
                 "这是监管的要求，也是对您负责。如果您更看重本金安全，可以告诉我这笔钱的用途和期限，"
                 "我帮您介绍风险等级较低的品种，并把它们可能的波动讲清楚。",
    "other_customer": "抱歉，其他客户（包括家人、朋友）的账户、资产和个人信息，我们不能向任何人透露。"
                      "如需代为办理，请账户本人授权，或携带双方有效证件到营业部办理；您本人的账户信息，我随时可以帮您查。",
    "insider_tip": "抱歉，我们不提供任何内幕消息或未公开信息，打听和利用内幕信息交易都是违法的。"
                   "公司的重要信息请以交易所和上市公司的正式公告为准，也请警惕打着内幕旗号的荐股骗局。",
    "stock_tip": "抱歉，我不能替您决定买卖哪只股票，也不会给出目标价或涨跌判断。需要专业意见的话，"
                 "可以预约我们持牌的投资顾问；我也可以帮您看看现有持仓的风险分布和集中度。",
    "above_level": "抱歉，风险测评和适当性匹配是监管要求，不能跳过，也不能代您作答或修改结果。"
                   "如果您的财务状况或投资经验有变化，可以如实重新做一次风险测评；在您当前的风险等级内，"
                   "我可以帮您看看有哪些合适的产品。",
    "injection": "抱歉，我只能按照证券公司的服务规范和合规要求来回答，这一点不会改变。"
                 "开户、交易规则、账户查询这些问题，我都可以帮您。",
}
