"""Entities in a customer's message, each with its character span in the original text.

Stock codes (exchange inferred from the code's prefix), instrument names (Aho-Corasick over every
listed name plus aliases), amounts in 元 (3万5, 三千块, 1.2亿, 50w), percentages, dates and relative
dates (明天, 下周一, T+2 counted in trading days on the exchange calendar) and bank names.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from brokercare.assistant.lexicon import BANKS, Lexicon, to_halfwidth
from brokercare.core.calendar import SHANGHAI, add_trading_days


@dataclass(frozen=True)
class Entity:
    kind: str  # stock, amount, percent, date, bank, quantity
    text: str
    start: int
    end: int
    value: str  # symbol, amount in 元, ratio, ISO date, canonical bank name, shares
    extra: dict | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        if d["extra"] is None:
            d.pop("extra")
        return d


# -- stock codes ---------------------------------------------------------------------------------
def infer_exchange(code: str) -> tuple[str, str] | None:
    """(exchange, kind) of a 6-digit A-share code by its prefix, None when no prefix fits."""
    if len(code) != 6 or not code.isdigit():
        return None
    if code.startswith(("600", "601", "603", "605")):
        return "SH", "stock"
    if code.startswith("688") or code.startswith("689"):
        return "SH", "stock"
    if code.startswith(("000", "001", "002", "003", "300", "301")):
        return "SZ", "stock"
    if code.startswith("92") or code[0] in "48":
        return "BJ", "stock"
    if code.startswith("204"):
        return "SH", "repo"
    if code.startswith("131"):
        return "SZ", "repo"
    if code.startswith(("110", "111", "113", "118")):
        return "SH", "convertible"
    if code.startswith(("123", "127", "128")):
        return "SZ", "convertible"
    if code.startswith(("510", "511", "512", "513", "515", "516", "517", "518", "588", "560", "561", "562", "563")):
        return "SH", "etf"
    if code.startswith(("159", "160", "161", "162", "163", "164", "165", "166", "167", "168", "169")):
        return "SZ", "etf"
    return None


_CODE = re.compile(r"(?<![0-9A-Za-z.])(?:(sh|sz|bj)\s?)?(\d{6})(?:\s?\.(sh|sz|bj))?(?![0-9])", re.I)

# -- numbers ---------------------------------------------------------------------------------------
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUM = "零〇一二两俩三四五六七八九十百千"


def parse_cn_number(s: str) -> Decimal:
    """Chinese numerals below 10,000 (三千, 十五, 两百零五, 一千二) to a Decimal."""
    total, current, last_unit = 0, 0, 1
    for ch in s:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            total += (current or 1) * unit
            current, last_unit = 0, unit
        else:
            raise ValueError(f"not a Chinese numeral: {s!r}")
    if current:
        # 一千二 means 1,200: a trailing digit after a unit is one step below that unit.
        total += current * (last_unit // 10 if last_unit >= 100 and len(s) >= 2 and s[-2] in _CN_UNITS else 1)
    return Decimal(total)


def _number(s: str) -> Decimal:
    s = s.replace(",", "")
    return Decimal(s) if re.fullmatch(r"\d+(?:\.\d+)?", s) else parse_cn_number(s)


_NUM = rf"(?:\d+(?:,\d{{3}})*(?:\.\d+)?|[{_CN_NUM}]+)"
# 3万5 / 1.2亿 / 50w / 三千块 / 2000元 / 5k / 一万二
_AMOUNT = re.compile(
    rf"(?P<n1>{_NUM})\s?(?P<u1>万|w|W|亿|千|k|K)(?P<n2>\d|[{_CN_NUM}](?![{_CN_NUM}]*[万亿]))?"
    rf"\s?(?P<cur1>块钱|块|元|rmb|RMB)?"
    rf"|(?P<n3>{_NUM})\s?(?P<cur2>块钱|块|元|rmb|RMB)"
)
_PERCENT = re.compile(rf"(?P<n>\d+(?:\.\d+)?)\s?[%％]|百分之(?P<cn>{_NUM})")
_QUANTITY = re.compile(rf"(?P<n>{_NUM})\s?(?P<u>股|手|签|张)")

_UNIT_VALUE = {"万": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000, "千": 1_000, "k": 1_000, "K": 1_000}

# -- dates -------------------------------------------------------------------------------------------
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_REL_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3, "昨天": -1,
             "昨日": -1, "前天": -2}
_DATE = re.compile(
    r"(?P<iso>20\d\d[-/.]\d{1,2}[-/.]\d{1,2})"
    r"|(?:(?P<y>20\d\d)年)?(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]"
    r"|(?P<tplus>[Tt]\s?\+\s?(?P<tn>\d))"
    r"|(?P<rel>大后天|今天|今日|明天|明日|后天|昨天|昨日|前天)"
    r"|(?P<wkprefix>下下|下个?|上个?|这个?|本)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天末])"
    r"|(?P<nexttd>下(?:一)?个交易日)"
)


def _bank_pattern() -> re.Pattern:
    names = sorted(BANKS, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names)))


_BANK = _bank_pattern()
_BANK_CUES = ("卡", "转", "存管", "绑", "银证", "入金", "出金", "到账", "账户")


def today_shanghai() -> date:
    return datetime.now(SHANGHAI).date()


class _Found:
    """Entities found so far; a later finder may not claim characters an earlier one took."""

    def __init__(self, text: str, folded: str) -> None:
        self.text, self.folded = text, folded
        self.entities: list[Entity] = []
        self._taken: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in self._taken)

    def add(self, kind: str, start: int, end: int, value: str, extra: dict | None = None) -> None:
        self.entities.append(Entity(kind, self.text[start:end], start, end, value, extra))
        self._taken.append((start, end))


def extract(text: str, lexicon: Lexicon, *, today: date | None = None) -> list[Entity]:
    """All entities in ``text``; spans index the original string (half-width folding keeps length).

    Finders run in order of precedence: a bank next to a card word, instrument names, codes,
    percentages, amounts, quantities, dates, then any other bank name."""
    folded = to_halfwidth(text)
    if len(folded) != len(text):  # a ligature expanded: keep spans honest by matching on the raw text
        folded = text
    found = _Found(text, folded)
    _banks(found, cued=True)
    _instrument_names(found, lexicon)
    _codes(found, lexicon)
    _percents(found)
    _amounts(found)
    _quantities(found)
    _dates(found, today or today_shanghai())
    _banks(found, cued=False)
    return sorted(found.entities, key=lambda e: e.start)


def _banks(found: _Found, *, cued: bool) -> None:
    """工商银行 is a bank and a listed stock: next to a card or transfer word (``cued``) it is the
    bank before names are looked up; elsewhere it is a bank only where no stock took it."""
    for m in _BANK.finditer(found.folded):
        if cued:
            window = found.folded[max(0, m.start() - 4) : m.end() + 4]
            if not any(cue in window for cue in _BANK_CUES):
                continue
        elif not found.free(m.start(), m.end()):
            continue
        found.add("bank", m.start(), m.end(), BANKS[m.group(0)])


def _instrument_names(found: _Found, lexicon: Lexicon) -> None:
    for start, end, inst in lexicon.find_names(found.folded):
        if found.free(start, end):
            found.add("stock", start, end, inst.symbol, {"name": inst.canonical})


def _codes(found: _Found, lexicon: Lexicon) -> None:
    """Six-digit codes with or without an exchange (600519, sz000001), not amounts (600000元)."""
    symbols = lexicon.name_of_symbol
    for m in _CODE.finditer(found.folded):
        code = m.group(2)
        after = found.folded[m.end() : m.end() + 2]
        if after[:1] in ("元", "块", "万", "w", "股") or after.startswith("rmb"):
            continue
        explicit = (m.group(1) or m.group(3) or "").upper()
        inferred = infer_exchange(code)
        if not explicit and inferred is None:
            continue
        exchange = explicit or inferred[0]
        symbol = f"{code}.{exchange}"
        if not found.free(m.start(), m.end()):
            continue
        extra = {"exchange": exchange, "kind": inferred[1] if inferred else "stock"}
        if symbol in symbols:
            extra["name"] = symbols[symbol]
        found.add("stock", m.start(), m.end(), symbol, extra)


def _percents(found: _Found) -> None:
    for m in _PERCENT.finditer(found.folded):
        if not found.free(m.start(), m.end()):
            continue
        try:
            n = Decimal(m.group("n")) if m.group("n") else _number(m.group("cn"))
        except (ValueError, ArithmeticError):
            continue
        found.add("percent", m.start(), m.end(), str(n / 100))


def _amounts(found: _Found) -> None:
    for m in _AMOUNT.finditer(found.folded):
        if not found.free(m.start(), m.end()):
            continue
        try:
            value = _amount(m)
        except (ValueError, ArithmeticError, KeyError):
            continue
        if value > 0:
            found.add("amount", m.start(), m.end(), str(value.normalize().quantize(Decimal("0.01"))))


def _amount(m: re.Match) -> Decimal:
    if m.group("n3"):
        return _number(m.group("n3"))
    unit = _UNIT_VALUE[m.group("u1")]
    value = _number(m.group("n1")) * unit
    tail = m.group("n2")
    if tail:
        # 3万5 = 3.5万, 一万二 = 1.2万: the trailing digit is one place below the unit.
        value += _number(tail) * unit / 10
    return value


def _quantities(found: _Found) -> None:
    for m in _QUANTITY.finditer(found.folded):
        if not found.free(m.start(), m.end()):
            continue
        try:
            n = _number(m.group("n"))
        except (ValueError, ArithmeticError):
            continue
        found.add("quantity", m.start(), m.end(), str(n), {"unit": m.group("u")})


def _dates(found: _Found, today: date) -> None:
    for m in _DATE.finditer(found.folded):
        if not found.free(m.start(), m.end()):
            continue
        resolved = _resolve_date(m, today)
        if resolved is not None:
            day, how = resolved
            found.add("date", m.start(), m.end(), day.isoformat(), {"relative": how})


def _resolve_date(m: re.Match, today: date) -> tuple[date, str] | None:
    try:
        if m.group("iso"):
            y, mo, d = re.split(r"[-/.]", m.group("iso"))
            return date(int(y), int(mo), int(d)), "absolute"
        if m.group("m"):
            year = int(m.group("y")) if m.group("y") else today.year
            return date(year, int(m.group("m")), int(m.group("d"))), "absolute"
    except ValueError:
        return None
    if m.group("tplus"):
        n = int(m.group("tn"))
        return add_trading_days(today, n), f"T+{n} trading days"
    if m.group("rel"):
        return today + timedelta(days=_REL_DAYS[m.group("rel")]), "calendar days"
    if m.group("nexttd"):
        return add_trading_days(today, 1), "next trading day"
    if m.group("wd"):
        target = _WEEKDAYS[m.group("wd")]
        prefix = m.group("wkprefix") or ""
        monday = today - timedelta(days=today.weekday())
        weeks = 2 if prefix.startswith("下下") else 1 if prefix.startswith("下") else -1 if prefix.startswith("上") else 0
        day = monday + timedelta(weeks=weeks, days=target)
        if not prefix and day < today:
            day += timedelta(weeks=1)  # bare 周三 said on a Thursday means next Wednesday
        return day, "weekday"
    return None
