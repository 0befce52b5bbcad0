"""Finance vocabulary: the jieba user dictionary, slang normalisation, synonyms and instrument names.

One :class:`Lexicon` is built per process (:func:`get_lexicon`). It owns a private
``jieba.Tokenizer`` so the finance dictionary never leaks into other code that uses jieba's global
tokenizer. Instrument names come from the ``instruments`` table when the database has them, else
from the instrument list the market domain ships in ``brokercare/market/data/``; the assistant's own
alias table (``stock_aliases.csv``: 茅台, 宁王, 招行 ...) is always added on top, because customers
say "茅台", not "贵州茅台".
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import ahocorasick
import jieba
import yaml

from brokercare.core import database
from brokercare.core.settings import get_settings
from brokercare.market import service as market

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)

DATA = resources.files("brokercare.assistant").joinpath("data")

#: Bank names customers use for 三方存管 / 银证转账, short form → canonical name.
BANKS: dict[str, str] = {
    "工商银行": "中国工商银行", "工行": "中国工商银行", "中国工商银行": "中国工商银行",
    "建设银行": "中国建设银行", "建行": "中国建设银行", "中国建设银行": "中国建设银行",
    "农业银行": "中国农业银行", "农行": "中国农业银行", "中国农业银行": "中国农业银行",
    "中国银行": "中国银行", "中行": "中国银行",
    "交通银行": "交通银行", "交行": "交通银行",
    "招商银行": "招商银行", "招行": "招商银行",
    "邮储银行": "中国邮政储蓄银行", "邮政储蓄银行": "中国邮政储蓄银行", "邮储": "中国邮政储蓄银行",
    "中国邮政储蓄银行": "中国邮政储蓄银行",
    "浦发银行": "上海浦东发展银行", "浦发": "上海浦东发展银行",
    "中信银行": "中信银行", "光大银行": "中国光大银行", "中国光大银行": "中国光大银行",
    "民生银行": "中国民生银行", "中国民生银行": "中国民生银行", "兴业银行": "兴业银行",
    "平安银行": "平安银行", "华夏银行": "华夏银行", "广发银行": "广发银行",
    "北京银行": "北京银行", "上海银行": "上海银行", "宁波银行": "宁波银行", "江苏银行": "江苏银行",
    "南京银行": "南京银行", "杭州银行": "杭州银行", "浙商银行": "浙商银行",
    "渤海银行": "渤海银行", "恒丰银行": "恒丰银行", "农商行": "农村商业银行",
    "农村商业银行": "农村商业银行",
}

#: Listed names that are also everyday words; they count as a stock only next to a stock cue.
AMBIGUOUS_NAMES = frozenset(
    {"机器人", "太阳能", "中国", "平安", "国际", "招商", "中信", "光大", "万科", "格力", "美的",
     "伊利", "顺丰", "海天", "东方", "长城", "科技", "银行", "电子", "联通", "电信", "移动",
     "值得买", "陆家嘴", "中国移动", "中国电信", "中国联通", "老百姓", "太平洋", "农产品", "大西洋"}
)
#: A listed name that jieba's general dictionary already knows as this common a word is ambiguous.
COMMON_WORD_FREQ = 300
STOCK_CUES = ("股", "票", "代码", "涨", "跌", "价", "仓", "买", "卖", "套", "割", "补仓", "市值")

_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


def to_halfwidth(text: str) -> str:
    """NFKC folds full-width letters, digits and punctuation (ＡＰＰ，１２３) to their ASCII forms."""
    return unicodedata.normalize("NFKC", text)


@dataclass(frozen=True)
class InstrumentName:
    name: str
    symbol: str
    canonical: str  # the official short name (贵州茅台 for 茅台)


@dataclass
class Lexicon:
    terms: dict[str, str]  # term -> topic
    normalise_map: dict[str, str]  # variant -> canonical
    synonym_groups: list[list[str]]
    instruments: dict[str, InstrumentName] = field(default_factory=dict)
    source: str = "aliases"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.synonym_of: dict[str, int] = {}
        for i, group in enumerate(self.synonym_groups):
            for word in group:
                self.synonym_of.setdefault(word.lower(), i)
        self._build()

    def _build(self) -> None:
        tok = jieba.Tokenizer()
        # The private tokenizer initialises from jieba's bundled dictionary (no download).
        tok.initialize()
        aliases = {a for a, inst in self.instruments.items() if a != inst.canonical}
        self.ambiguous = AMBIGUOUS_NAMES | {
            name for name in self.instruments
            if name not in aliases and tok.FREQ.get(name, 0) >= COMMON_WORD_FREQ
        }
        for term in self.terms:
            if " " not in term:
                tok.add_word(term, freq=200000)
        for canonical in set(self.normalise_map.values()):
            tok.add_word(canonical, freq=200000)
        for name in self.instruments:
            if len(name) >= 2:
                tok.add_word(name, freq=300000, tag="nz")
        for bank in BANKS:
            tok.add_word(bank, freq=200000, tag="nt")
        self.tokenizer = tok
        # A message is segmented by the classifiers' features and again by the knowledge base's
        # content words; keep the last few segmentations (this lexicon's: a rebuilt one cuts anew),
        # about a batch of messages and their replies.
        self._segmented = lru_cache(maxsize=256)(self._segment)
        self.name_of_symbol = {inst.symbol: inst.canonical for inst in self.instruments.values()}

        norm = ahocorasick.Automaton()
        for variant, canonical in self.normalise_map.items():
            norm.add_word(variant.lower(), (variant.lower(), canonical))
        norm.make_automaton()
        self._norm = norm

        names = ahocorasick.Automaton()
        for name, inst in self.instruments.items():
            names.add_word(name, inst)
        if len(names):
            names.make_automaton()
        self._names = names

        topics = ahocorasick.Automaton()
        for term, topic in self.terms.items():
            topics.add_word(term.lower(), (term.lower(), topic))
        for bank in BANKS:
            if bank.lower() not in self.terms:
                topics.add_word(bank.lower(), (bank.lower(), "bank"))
        topics.make_automaton()
        self._topics = topics

    # -- normalisation -------------------------------------------------------------------------
    def normalise(self, text: str) -> str:
        """Half-width, lower-case, and slang/typo variants replaced by their canonical word.

        Longest variant wins at each position; ASCII variants only as whole tokens.
        """
        text = to_halfwidth(text).lower().strip()
        text = re.sub(r"\s+", " ", text)
        hits = []
        for end, (variant, canonical) in self._norm.iter(text):
            start = end - len(variant) + 1
            if _ASCII_WORD.match(variant[0]) and start > 0 and _ASCII_WORD.match(text[start - 1]):
                continue
            if _ASCII_WORD.match(variant[-1]) and end + 1 < len(text) and _ASCII_WORD.match(text[end + 1]):
                continue
            hits.append((start, end + 1, canonical))
        if not hits:
            return text
        hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        out, pos = [], 0
        for start, end, canonical in hits:
            if start < pos:
                continue
            out.append(text[pos:start])
            out.append(canonical)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    # -- tokenisation --------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Words of already normalised text (HMM off: deterministic, and new words come from the dict)."""
        return list(self._segmented(text))

    def _segment(self, text: str) -> tuple[str, ...]:
        return tuple(w for w in self.tokenizer.lcut(text, HMM=False) if w.strip())

    def topics(self, text: str) -> list[str]:
        """Finance topics mentioned in normalised text (``margin``, ``ipo`` ...), for concept features."""
        return [topic for _end, (_term, topic) in self._topics.iter(text)]

    def terms_by_topic(self, text: str) -> dict[str, frozenset]:
        """Finance terms of normalised text grouped by topic (``{"margin": {"强平", "追保"}}``)."""
        out: dict[str, set] = {}
        for _end, (term, topic) in self._topics.iter(text):
            out.setdefault(topic, set()).add(term)
        return {k: frozenset(v) for k, v in out.items()}

    def finance_hits(self, text: str) -> int:
        return sum(1 for _ in self._topics.iter(text))

    def find_names(self, text: str) -> list[tuple[int, int, InstrumentName]]:
        """Instrument names in the raw text as (start, end, instrument), longest match, no overlap."""
        if not len(self._names):
            return []
        hits = []
        for end, inst in self._names.iter(text):
            start = end - len(inst.name) + 1
            if inst.name in self.ambiguous:
                window = text[max(0, start - 4) : end + 5]
                if not any(cue in window for cue in STOCK_CUES):
                    continue
            hits.append((start, end + 1, inst))
        hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        out, pos = [], 0
        for start, end, inst in hits:
            if start >= pos:
                out.append((start, end, inst))
                pos = end
        return out

    def expand(self, words: list[str]) -> list[str]:
        """Words plus a group token for each synonym group they belong to (knowledge-base recall)."""
        out = list(words)
        for w in words:
            gid = self.synonym_of.get(w)
            if gid is not None:
                out.append(f"§syn{gid}")
        return out


def _read(name: str) -> str:
    return DATA.joinpath(name).read_text("utf-8")


def load_terms() -> dict[str, str]:
    terms: dict[str, str] = {}
    for line in _read("finance_terms.tsv").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, _, topic = line.partition("\t")
        terms[term.strip()] = topic.strip() or "finance"
    return terms


def load_synonyms() -> tuple[dict[str, str], list[list[str]]]:
    raw = yaml.safe_load(_read("synonyms.yaml"))
    normalise = {}
    for canonical, variants in raw["normalise"].items():
        for v in variants:
            if v.lower() != canonical.lower():
                normalise[v] = canonical
    return normalise, [list(map(str, g)) for g in raw["synonyms"]]


def load_aliases() -> dict[str, InstrumentName]:
    rows = csv.DictReader(io.StringIO(_read("stock_aliases.csv")))
    return {r["alias"]: InstrumentName(r["alias"], r["symbol"], r["name"]) for r in rows}


def _instruments_from_shipped_file() -> dict[str, InstrumentName]:
    """Names from the instrument list the market domain ships (the first symbol of a name wins)."""
    out: dict[str, InstrumentName] = {}
    for r in market.shipped_instruments():
        symbol, name = r["symbol"].strip(), r["name"].strip()
        if "." in symbol and len(name) >= 2:
            out.setdefault(name, InstrumentName(name, symbol, name))
    return out


def _instruments_from_database() -> dict[str, InstrumentName] | None:
    """Names from the market's instrument master, or None when there is no populated database."""
    settings = get_settings()
    no_database = not (Path(settings.data_dir) / "brokercare.db").exists()
    if database._engine is None and not settings.database_url and no_database:
        return None
    try:
        rows = market.instrument_names(database.get_engine())
    except Exception as exc:  # the lexicon must come up even without a reachable database
        log.warning("instrument names not read from the database: %s", exc)
        return None
    if not rows:
        return None
    return {name: InstrumentName(name, sym, name) for sym, name in rows if name and len(name) >= 2}


def build_lexicon(*, use_database: bool = True) -> Lexicon:
    normalise, groups = load_synonyms()
    instruments: dict[str, InstrumentName] = {}
    source = "aliases"
    from_db = _instruments_from_database() if use_database else None
    if from_db:
        instruments.update(from_db)
        source = "database"
    else:
        shipped = _instruments_from_shipped_file()
        if shipped:
            instruments.update(shipped)
            source = "market file"
    for alias, inst in load_aliases().items():
        instruments.setdefault(alias, inst)
    return Lexicon(load_terms(), normalise, groups, instruments, source)


_lexicon: Lexicon | None = None
_lexicon_lock = threading.Lock()


def get_lexicon() -> Lexicon:
    """The process-wide lexicon, built on first use."""
    global _lexicon
    if _lexicon is None:
        with _lexicon_lock:
            if _lexicon is None:
                _lexicon = build_lexicon()
    return _lexicon


def reload_lexicon() -> Lexicon:
    """Rebuild after the instrument table changed (e.g. after ``brokercare generate``)."""
    global _lexicon
    with _lexicon_lock:
        _lexicon = build_lexicon()
    return _lexicon


@lru_cache(maxsize=1)
def static_lexicon() -> Lexicon:
    """A lexicon from shipped files only: training and evaluation must not depend on a database."""
    return build_lexicon(use_database=False)
