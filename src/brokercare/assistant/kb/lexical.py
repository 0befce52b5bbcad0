"""What two questions share on the surface: finance-aware words, character bigrams, BM25 between
them, finance topics named with different terms, and the contrast groups of ``synonyms.yaml``.

These are the matcher's lexical views; they see typos and unsegmented names, but also the trap
of hard negatives (融资利率 and 融券费率 share most characters), which the concept model and the
contrast evidence correct.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import yaml
from scipy import sparse

from brokercare.assistant.classifier import Features
from brokercare.assistant.lexicon import DATA, get_lexicon

K1, B = 1.2, 0.75
PUNCT = re.compile(r"[\s，。！？、,.!?;；:：“”\"'（）()…~～]+")
STOP = frozenset(["的", "了", "吗", "呢", "啊", "吧", "呀", "么", "我", "你", "是", "在", "有", "和", "就", "都", "也",
                  "要", "会", "能", "怎么", "什么", "请问", "一下", "这个", "那个", "么样"])
NUMBER = re.compile(r"\d+(?:\.\d+)?")


# -- text views -------------------------------------------------------------------------------------
def words(f: Features) -> list[str]:
    """Content words, each also standing for its synonym group (入金 ≈ 转入)."""
    lex = get_lexicon()
    found = [w for w in lex.tokenize(f.normalised) if not PUNCT.fullmatch(w) and w not in STOP]
    return lex.expand(found)


def views(f: Features) -> list[str]:
    """The TF-IDF analyzer: the classifier's words and character n-grams."""
    return f.words + f.chars


def bigrams(f: Features) -> list[str]:
    s = PUNCT.sub("", f.normalised)
    return [s[i : i + 2] for i in range(len(s) - 1)] or ([s] if s else [])


def concept_view(f: Features) -> Features:
    """The concept model's view: content words (no particles: "能" or "吗" must not tie a question
    to whichever concept's paraphrases happened to use them) plus their synonym groups, so 入金 and
    转入 share a feature."""
    content = [w for w in f.words if not any(part in STOP or PUNCT.fullmatch(part) for part in w.split("_"))]
    return Features(f.normalised, get_lexicon().expand(content), f.chars)


# -- BM25 -------------------------------------------------------------------------------------------
class Bm25:
    """BM25 with idf and average length fixed by a reference corpus."""

    def __init__(self, docs: list[list[str]]) -> None:
        n = len(docs)
        df = Counter(t for d in docs for t in set(d))
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        self.avgdl = sum(len(d) for d in docs) / max(n, 1)
        self.vocab = {t: i for i, t in enumerate(sorted(self.idf))}

    def weight(self, term: str, tf: int, dl: int) -> float:
        return self.idf[term] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / self.avgdl))

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
                vals.append(self.weight(t, tf, dl))
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


def column_dot(m: sparse.csc_matrix, cols: list[int], vals: np.ndarray | None = None) -> np.ndarray:
    """``m[:, cols] @ vals`` (all ones when ``vals`` is None) straight from the CSC arrays: scipy's
    fancy column indexing costs more than the product itself for one short query."""
    if not cols:
        return np.zeros(m.shape[0])
    cols_a = np.asarray(cols)
    starts, ends = m.indptr[cols_a], m.indptr[cols_a + 1]
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(m.shape[0])
    which = np.repeat(np.arange(len(cols_a)), lens)
    pos = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens) + np.repeat(starts, lens)
    weights = m.data[pos] if vals is None else m.data[pos] * np.asarray(vals)[which]
    return np.bincount(m.indices[pos], weights=weights, minlength=m.shape[0])


def bm25_one(bm25: Bm25, tokens: list[str], docs_csc: sparse.csc_matrix, queries_csc: sparse.csc_matrix,
             cand_mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BM25 of one query against every candidate, both ways (query terms in the candidate; the
    candidate's terms in the query), as the batch comparison computes it."""
    unique = set(tokens)
    mass = sum(bm25.idf.get(t, bm25.unknown_idf) for t in unique) or 1.0
    qcols = [bm25.vocab[t] for t in unique if t in bm25.vocab]
    forward = column_dot(docs_csc, qcols) / mass
    dl = len(tokens) or 1
    dcols, dvals = [], []
    for t, tf in Counter(tokens).items():
        j = bm25.vocab.get(t)
        if j is not None:
            dcols.append(j)
            dvals.append(bm25.weight(t, tf, dl))
    backward = column_dot(queries_csc, dcols, np.asarray(dvals)) / cand_mass
    return forward, backward


# -- evidence of difference -------------------------------------------------------------------------
def _contrast_groups() -> list[list[str]]:
    return [list(map(str, g)) for g in yaml.safe_load(DATA.joinpath("synonyms.yaml").read_text("utf-8"))["contrasts"]]


CONTRASTS = _contrast_groups()


def contrast_terms(text: str) -> dict[int, frozenset]:
    """Members of each contrast group the text names (case-insensitive), keyed by group."""
    low = text.lower()
    out = {}
    for g, group in enumerate(CONTRASTS):
        found = frozenset(t for t in group if t.lower() in low)
        if found:
            out[g] = found
    return out


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def conflict(a: dict, b: dict, na: frozenset, nb: frozenset) -> float:
    """How many topics both texts talk about with different terms (创业板 vs 科创板, 转入 vs 转出),
    plus differing numbers (T+0 vs T+1): lexically close questions that mean different things."""
    n = sum(1 for topic in a.keys() & b.keys() if not (a[topic] & b[topic]))
    if na and nb and not (na & nb):
        n += 1
    return float(min(n, 3))
