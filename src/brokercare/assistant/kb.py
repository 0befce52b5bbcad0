"""The knowledge base: FAQ import, retrieval by meaning, and the paraphrase matcher behind both.

A query and a candidate question are compared on six similarities, fused by a logistic regression
trained on the shipped paraphrase pairs (``faq_paraphrases.csv``, customer wording → FAQ question):

1. BM25 over finance-aware words, each word also standing for its synonym group (入金 ≈ 转入);
2. BM25 over character bigrams (typos, unsegmented names);
3. cosine of TF-IDF vectors (words + character n-grams) and of their LSA embeddings (TF-IDF → truncated SVD) learned on the assistant's corpus;
4. Bhattacharyya similarity of the two texts' intent distributions from the intent model — a
   learned semantic signal: "钱咋还没到" and "转账显示成功但钱没到怎么办" share no words but the
   same intent;
5. Jaccard overlap of finance topics (margin, ipo, transfer ...).

BM25 uses fixed idf and length statistics from a reference corpus (training data + FAQ), so a
score means the same for one pair as inside a ranking. The fused probability's threshold is the
one maximising F1 on out-of-fold predictions of the training pairs.
"""

from __future__ import annotations

import csv
import io
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.assistant import registry
from brokercare.assistant.classifier import Features, _softmax
from brokercare.assistant.lexicon import DATA, get_lexicon
from brokercare.assistant.models import KbEntry
from brokercare.core.database import utcnow
from brokercare.core.errors import ValidationFailed

FEATURES = ("bm25_word", "bm25_char", "tfidf", "lsa", "intent", "topic", "same_intent", "conflict")
K1, B = 1.2, 0.75
MAX_IMPORT_BYTES = 20 * 1024 * 1024


# -- text views -------------------------------------------------------------------------------------
def _words(f: Features) -> list[str]:
    lex = get_lexicon()
    words = [w for w in lex.tokenize(f.normalised) if not _PUNCT.fullmatch(w) and w not in _STOP]
    return lex.expand(words)


def _views(f: Features) -> list[str]:
    return f.words + f.chars


def _bigrams(f: Features) -> list[str]:
    s = _PUNCT.sub("", f.normalised)
    return [s[i : i + 2] for i in range(len(s) - 1)] or ([s] if s else [])


_PUNCT = re.compile(r"[\s，。！？、,.!?;；:：“”\"'（）()…~～]+")
_STOP = frozenset(["的", "了", "吗", "呢", "啊", "吧", "呀", "么", "我", "你", "是", "在", "有", "和", "就", "都", "也", "要", "会", "能", "怎么", "什么", "请问", "一下", "这个", "那个", "么样"])


class _Bm25:
    """BM25 with idf and average length fixed by a reference corpus."""

    def __init__(self, docs: list[list[str]]) -> None:
        n = len(docs)
        df = Counter(t for d in docs for t in set(d))
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        self.avgdl = sum(len(d) for d in docs) / max(n, 1)
        self.vocab = {t: i for i, t in enumerate(sorted(self.idf))}

    def doc_matrix(self, docs: list[list[str]]) -> sparse.csr_matrix:
        rows, cols, vals = [], [], []
        for r, d in enumerate(docs):
            dl = len(d) or 1
            for t, tf in Counter(d).items():
                j = self.vocab.get(t)
                if j is None:
                    continue
                rows.append(r)
                cols.append(j)
                vals.append(self.idf[t] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / self.avgdl)))
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(docs), len(self.vocab)))

    def query_matrix(self, queries: list[list[str]]) -> tuple[sparse.csr_matrix, np.ndarray]:
        """Binary query vectors and each query's total idf mass (unknown terms count at max idf)."""
        rows, cols, mass = [], [], []
        for r, q in enumerate(queries):
            total = 0.0
            for t in set(q):
                j = self.vocab.get(t)
                total += self.idf.get(t, self.unknown_idf)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
            mass.append(total or 1.0)
        m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(queries), len(self.vocab)))
        return m, np.asarray(mass)


@dataclass
class _Encoded:
    words: sparse.csr_matrix
    chars: sparse.csr_matrix
    tfidf: sparse.csr_matrix
    lsa: np.ndarray
    intent: np.ndarray
    topics: list[frozenset]
    terms: list[dict]
    top_intent: np.ndarray
    numbers: list[frozenset]
    word_q: sparse.csr_matrix
    word_mass: np.ndarray
    char_q: sparse.csr_matrix
    char_mass: np.ndarray


class Matcher:
    """Similarity of two customer questions, as a probability that they mean the same."""

    def __init__(self) -> None:
        corpus_texts = _reference_corpus()
        feats = [Features.of(t) for t in corpus_texts]
        self.word_bm25 = _Bm25([_words(f) for f in feats])
        self.char_bm25 = _Bm25([_bigrams(f) for f in feats])
        self.tfidf = TfidfVectorizer(analyzer=_views, sublinear_tf=True, min_df=2, max_features=20000)
        x = self.tfidf.fit_transform(feats)
        self.svd = TruncatedSVD(n_components=min(96, x.shape[1] - 1, len(feats) - 1), n_iter=3, random_state=7)
        self.svd.fit(x)
        self.components = np.ascontiguousarray(self.svd.components_.T)
        self._fit_fusion()

    # -- encoding ---------------------------------------------------------------------------------
    def encode(self, texts: list[str]) -> _Encoded:
        feats = [Features.of(t) for t in texts]
        words = [_words(f) for f in feats]
        chars = [_bigrams(f) for f in feats]
        tfidf = self.tfidf.transform(feats)
        lsa = np.asarray(tfidf @ self.components)
        lsa /= np.linalg.norm(lsa, axis=1, keepdims=True) + 1e-9
        model, _info = registry.load("intent")
        clf = getattr(model, "clf", model)
        intent = np.sqrt(_softmax(clf.margins(feats) / 0.5))
        lex = get_lexicon()
        topics = [frozenset(lex.topics(f.normalised)) for f in feats]
        terms = [lex.terms_by_topic(f.normalised) for f in feats]
        numbers = [frozenset(_NUMBER.findall(f.normalised)) for f in feats]
        wq, wm = self.word_bm25.query_matrix(words)
        cq, cm = self.char_bm25.query_matrix(chars)
        return _Encoded(self.word_bm25.doc_matrix(words), self.char_bm25.doc_matrix(chars), tfidf, lsa, intent,
                        topics, terms, intent.argmax(axis=1), numbers, wq, wm, cq, cm)

    @staticmethod
    def features(q: _Encoded, c: _Encoded) -> np.ndarray:
        """Similarity features of every query against every candidate: (nq, nc, 5)."""
        bw = (q.word_q @ c.words.T).toarray() / q.word_mass[:, None]
        bc = (q.char_q @ c.chars.T).toarray() / q.char_mass[:, None]
        tfidf = (q.tfidf @ c.tfidf.T).toarray()
        lsa = q.lsa @ c.lsa.T
        intent = q.intent @ c.intent.T
        topic = np.zeros_like(lsa)
        conflict = np.zeros_like(lsa)
        for i in range(len(q.topics)):
            for j in range(len(c.topics)):
                topic[i, j] = _jaccard(q.topics[i], c.topics[j])
                conflict[i, j] = _conflict(q.terms[i], c.terms[j], q.numbers[i], c.numbers[j])
        same = (q.top_intent[:, None] == c.top_intent[None, :]).astype(float)
        return np.stack([np.minimum(bw, 1.5), np.minimum(bc, 1.5), tfidf, lsa, intent, topic, same, conflict], axis=-1)

    @staticmethod
    def pair_features(a: _Encoded, b: _Encoded) -> np.ndarray:
        n = a.lsa.shape[0]
        bw = np.asarray(a.word_q.multiply(b.words).sum(axis=1)).ravel() / a.word_mass
        bc = np.asarray(a.char_q.multiply(b.chars).sum(axis=1)).ravel() / a.char_mass
        tfidf = np.asarray(a.tfidf.multiply(b.tfidf).sum(axis=1)).ravel()
        lsa = np.einsum("ij,ij->i", a.lsa, b.lsa)
        intent = np.einsum("ij,ij->i", a.intent, b.intent)
        topic = np.array([_jaccard(a.topics[i], b.topics[i]) for i in range(n)])
        conflict = np.array([_conflict(a.terms[i], b.terms[i], a.numbers[i], b.numbers[i]) for i in range(n)])
        same = (a.top_intent == b.top_intent).astype(float)
        return np.stack([np.minimum(bw, 1.5), np.minimum(bc, 1.5), tfidf, lsa, intent, topic, same, conflict], axis=-1)

    # -- fusion -----------------------------------------------------------------------------------
    def _fit_fusion(self) -> None:
        faq = starter_faq()
        questions = [q for q, _a, _i in faq]
        paraphrases = _paraphrases()
        enc_q = self.encode(questions)
        enc_p = self.encode([p for p, _q in paraphrases])
        index = {q: i for i, q in enumerate(questions)}
        f = self.features(enc_p, enc_q)  # (n_para, n_faq, 5)
        rng = np.random.default_rng(7)
        xs, ys = [], []
        for i, (_p, q) in enumerate(paraphrases):
            gold = index[q]
            xs.append(f[i, gold])
            ys.append(1)
            # Hard negatives: the most similar wrong questions by a plain sum of similarities.
            order = np.argsort(-f[i].sum(axis=1))
            hard = [j for j in order[:6] if j != gold][:4]
            easy = [int(j) for j in rng.choice(len(questions), 3, replace=False) if j != gold]
            for j in hard + easy:
                xs.append(f[i, j])
                ys.append(0)
        # Different FAQ questions that share many words are the hardest negatives of all
        # ("创业板涨跌幅是多少" vs "北交所涨跌幅是多少"): the matcher must not call them the same.
        ff = self.features(enc_q, enc_q)
        lexical = ff[:, :, 0] + ff[:, :, 1] + ff[:, :, 2]
        np.fill_diagonal(lexical, -np.inf)
        for i in range(len(questions)):
            for j in np.argsort(-lexical[i])[:2]:
                xs.append(ff[i, j])
                ys.append(0)
        x, y = np.asarray(xs), np.asarray(ys)
        self.fusion = LogisticRegression(C=3.0, class_weight="balanced", max_iter=1000)
        oof = cross_val_predict(self.fusion, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=7),
                                method="predict_proba")[:, 1]
        self.threshold = _best_threshold(oof, y)
        self.fusion.fit(x, y)

    def probability(self, feats: np.ndarray) -> np.ndarray:
        shape = feats.shape[:-1]
        p = self.fusion.predict_proba(feats.reshape(-1, len(FEATURES)))[:, 1]
        return p.reshape(shape)

    def score_pairs(self, a: list[str], b: list[str]) -> np.ndarray:
        return self.probability(self.pair_features(self.encode(a), self.encode(b)))

    def rank(self, queries: list[str], candidates: list[str]) -> np.ndarray:
        """(n_queries, n_candidates) match probabilities."""
        return self.probability(self.features(self.encode(queries), self.encode(candidates)))


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _conflict(a: dict, b: dict, na: frozenset, nb: frozenset) -> float:
    """How many topics both texts talk about with different terms (创业板 vs 科创板, 转入 vs 转出),
    plus differing numbers (T+0 vs T+1): lexically close questions that mean different things."""
    n = sum(1 for topic in a.keys() & b.keys() if not (a[topic] & b[topic]))
    if na and nb and not (na & nb):
        n += 1
    return float(min(n, 3))


def _best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    best, best_f1 = 0.5, -1.0
    for t in np.linspace(0.2, 0.9, 71):
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1)))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def _read_csv(name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(DATA.joinpath(name).read_text("utf-8"))))


def starter_faq() -> list[tuple[str, str, str | None]]:
    return [(r["question"], r["answer"], r.get("intent") or None) for r in _read_csv("faq_starter.csv")]


def _paraphrases() -> list[tuple[str, str]]:
    return [(r["paraphrase"], r["question"]) for r in _read_csv("faq_paraphrases.csv")]


def _reference_corpus() -> list[str]:
    texts, _labels = registry.shipped_data("intent")
    faq = starter_faq()
    return texts + [q for q, _a, _i in faq] + [a for _q, a, _i in faq] + [p for p, _q in _paraphrases()]


_matcher: Matcher | None = None
_matcher_lock = threading.Lock()


def get_matcher() -> Matcher:
    """The process-wide matcher (trained once, deterministically, from shipped data)."""
    global _matcher
    if _matcher is None:
        with _matcher_lock:
            if _matcher is None:
                _matcher = Matcher()
    return _matcher


# -- the knowledge base -----------------------------------------------------------------------------
@dataclass(frozen=True)
class KbHit:
    question: str
    answer: str
    intent: str | None
    source: str
    score: float
    matched: bool  # score at or above the matcher's threshold

    def as_source(self) -> dict:
        return {"type": "kb", "question": self.question, "source": self.source, "score": round(self.score, 3)}


class KnowledgeBase:
    """The searchable FAQ: the shipped starter FAQ plus everything the broker imported.

    An imported entry with the same normalised question replaces the starter entry.
    """

    def __init__(self, entries: list[tuple[str, str, str | None, str]]) -> None:
        self.entries = entries
        self.matcher = get_matcher()
        self._enc = self.matcher.encode([e[0] for e in entries]) if entries else None

    @classmethod
    def load(cls, session: Session | None) -> KnowledgeBase:
        merged: dict[str, tuple[str, str, str | None, str]] = {}
        for q, a, i in starter_faq():
            merged[question_key(q)] = (q, a, i, "starter FAQ")
        if session is not None:
            for e in session.scalars(select(KbEntry).where(KbEntry.active.is_(True))):
                merged[e.question_key] = (e.question, e.answer, e.intent, e.source)
        return cls(list(merged.values()))

    def search(self, query: str, k: int = 3, *, intent: str | None = None) -> list[KbHit]:
        if not self.entries or self._enc is None:
            return []
        q = self.matcher.encode([query])
        p = self.matcher.probability(self.matcher.features(q, self._enc))[0]
        if intent is not None:
            # An entry tagged with the message's intent gets a small prior; it never overrides meaning.
            tagged = np.array([e[2] == intent for e in self.entries])
            p = np.where(tagged, np.minimum(1.0, p + 0.03), p)
        order = np.argsort(-p)[:k]
        th = self.matcher.threshold
        return [KbHit(self.entries[j][0], self.entries[j][1], self.entries[j][2], self.entries[j][3],
                      float(p[j]), bool(p[j] >= th)) for j in order]


_kb_cache: dict[str, KnowledgeBase] = {}


#: How long a process answers from its loaded knowledge base before it asks the database whether
#: entries changed (an import elsewhere shows within this delay; every reply asking would cost a
#: query per message on the service hub's hot path).
KB_RECHECK_S = 1.0
_kb_checked: dict[str, tuple[float, str]] = {}


def knowledge_base(session: Session | None) -> KnowledgeBase:
    """The knowledge base for this database, rebuilt only when its entries changed."""
    stamp = "none"
    if session is not None:
        from sqlalchemy import func

        url = str(session.get_bind().url)
        checked = _kb_checked.get(url)
        if checked is not None and time.monotonic() - checked[0] < KB_RECHECK_S and checked[1] in _kb_cache:
            return _kb_cache[checked[1]]
        row = session.execute(select(func.count(KbEntry.id), func.max(KbEntry.updated_at))).one()
        stamp = f"{url}|{row[0]}|{row[1]}"
        _kb_checked[url] = (time.monotonic(), stamp)
    kb = _kb_cache.get(stamp)
    if kb is None:
        kb = KnowledgeBase.load(session)
        _kb_cache.clear()
        _kb_cache[stamp] = kb
    return kb


def question_key(question: str) -> str:
    return _PUNCT.sub("", get_lexicon().normalise(question))[:500]


# -- import -----------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    added: int
    updated: int
    skipped: int
    errors: list[str]


def parse_faq_file(path: Path) -> list[tuple[str, str, str | None]]:
    """Entries of a CSV (``question,answer[,intent]``) or Markdown FAQ; a clear error for anything else.

    Markdown: each question is a heading (``#``..``####``) or a ``Q:``/``问：`` line; the answer
    is the text up to the next question.
    """
    if not path.exists():
        raise ValidationFailed(f"file not found: {path}")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise ValidationFailed(f"{path.name} is larger than {MAX_IMPORT_BYTES // 1024 // 1024} MB")
    try:
        raw = path.read_text("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"{path.name} is not UTF-8 text") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _parse_csv(raw, path.name)
    if suffix in (".md", ".markdown"):
        return _parse_markdown(raw, path.name)
    raise ValidationFailed(f"{path.name}: unsupported file type {suffix or '(none)'}; use .csv or .md")


def _parse_csv(raw: str, name: str) -> list[tuple[str, str, str | None]]:
    reader = csv.DictReader(io.StringIO(raw))
    cols = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "question" not in cols or "answer" not in cols:
        raise ValidationFailed(f"{name}: expected a CSV header question,answer[,intent]")
    out = []
    for i, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        q, a = row.get("question", ""), row.get("answer", "")
        if not q and not a:
            continue
        if not q or not a:
            raise ValidationFailed(f"{name}, line {i}: both question and answer are required")
        out.append((q, a, row.get("intent") or None))
    return out


_MD_QUESTION = re.compile(r"^\s*(?:#{1,4}\s+(?P<h>.+?)\s*#*\s*$|(?:Q|q|问)\s*[:：]\s*(?P<q>.+))$")
_MD_ANSWER_PREFIX = re.compile(r"^\s*(?:A|a|答)\s*[:：]\s*")


def _parse_markdown(raw: str, name: str) -> list[tuple[str, str, str | None]]:
    out, question, lines = [], None, []

    def flush() -> None:
        if question is not None:
            answer = "\n".join(lines).strip()
            if answer:
                out.append((question, answer, None))

    for line in raw.splitlines():
        m = _MD_QUESTION.match(line)
        if m:
            flush()
            question, lines = (m.group("h") or m.group("q")).strip(), []
            continue
        if question is not None:
            lines.append(_MD_ANSWER_PREFIX.sub("", line))
    flush()
    if not out:
        raise ValidationFailed(f"{name}: no question/answer pairs found (use headings or Q:/A: lines)")
    return out


def import_entries(session: Session, entries: list[tuple[str, str, str | None]], *, source: str) -> ImportResult:
    """Upsert entries by normalised question, in the caller's transaction."""
    from brokercare.assistant.taxonomy import intents

    known = set(intents())
    added = updated = skipped = 0
    errors: list[str] = []
    existing = {e.question_key: e for e in session.scalars(select(KbEntry))}
    seen: set[str] = set()
    for q, a, intent in entries:
        if len(q) > 500:
            errors.append(f"question longer than 500 characters: {q[:30]}…")
            skipped += 1
            continue
        if intent and intent not in known:
            errors.append(f"unknown intent {intent!r} for {q[:30]}; stored without intent")
            intent = None
        key = question_key(q)
        if not key or key in seen:
            skipped += 1
            continue
        seen.add(key)
        entry = existing.get(key)
        if entry is None:
            session.add(KbEntry(question=q, question_key=key, answer=a, intent=intent, source=source))
            added += 1
        elif (entry.answer, entry.intent, entry.active) != (a, intent, True):
            entry.answer, entry.intent, entry.active, entry.source = a, intent, True, source
            entry.updated_at = utcnow()
            updated += 1
        else:
            skipped += 1
    session.flush()
    _kb_checked.clear()  # this process sees its own import at once
    return ImportResult(added, updated, skipped, errors)


# -- evaluation ---------------------------------------------------------------------------------------
def evaluate_pairs(path: Path) -> dict:
    """Pair accuracy/F1 at the matcher's threshold, and hit@1/MRR of positives against the other side."""
    if not path.exists():
        raise ValidationFailed(f"file not found: {path}")
    reader = csv.DictReader(io.StringIO(path.read_text("utf-8-sig")))
    if not {"sentence1", "sentence2", "label"} <= set(reader.fieldnames or []):
        raise ValidationFailed(f"{path.name}: expected a CSV header sentence1,sentence2,label")
    a, b, y = [], [], []
    for i, row in enumerate(reader, start=2):
        s1, s2, lab = (row["sentence1"] or "").strip(), (row["sentence2"] or "").strip(), (row["label"] or "").strip()
        if lab not in ("0", "1") or not s1 or not s2:
            raise ValidationFailed(f"{path.name}, line {i}: need two sentences and a label of 0 or 1")
        a.append(s1)
        b.append(s2)
        y.append(int(lab))
    if not a:
        raise ValidationFailed(f"{path.name}: no pairs")
    m = get_matcher()
    gold = np.asarray(y)
    p = m.score_pairs(a, b)
    pred = (p >= m.threshold).astype(int)
    tp = int(np.sum((pred == 1) & (gold == 1)))
    fp = int(np.sum((pred == 1) & (gold == 0)))
    fn = int(np.sum((pred == 0) & (gold == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    candidates = sorted(set(b))
    positives = [(a[i], b[i]) for i in range(len(a)) if y[i] == 1]
    hit = mrr = 0.0
    if positives:
        scores = m.rank([q for q, _ in positives], candidates)
        where = {c: j for j, c in enumerate(candidates)}
        for i, (_q, target) in enumerate(positives):
            row = scores[i]
            rank = 1 + int(np.sum(row > row[where[target]]))
            hit += rank == 1
            mrr += 1 / rank
        hit /= len(positives)
        mrr /= len(positives)
    return {
        "n_pairs": len(a), "n_positive": int(gold.sum()), "threshold": round(m.threshold, 3),
        "accuracy": round(float(np.mean(pred == gold)), 4), "precision": round(precision, 4),
        "recall": round(recall, 4), "f1": round(f1, 4),
        "n_queries": len(positives), "n_candidates": len(candidates),
        "hit_at_1": round(hit, 4), "mrr": round(mrr, 4),
    }
