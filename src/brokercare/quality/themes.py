"""The month's complaint themes: what customers complained about, found by clustering their words.

Each complaint's text is cut into words with jieba, weighted by TF-IDF, and grouped by k-means
(scikit-learn, a fixed seed so the report is the same every run). A theme is named by the words
that weigh most in its centre and shown with the complaint nearest to it. The number of themes
grows with the number of complaints (about one per three, at most eight), so a quiet month is not
split into themes of one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_THEMES = 8
PER_THEME = 3
#: Words that say nothing about the complaint itself.
STOP_WORDS = frozenset(["我", "你", "你们", "的", "了", "是", "在", "和", "也", "都", "就", "还", "又", "要", "会", "能", "没", "没有", "不", "很", "太", "吧", "吗", "呢", "啊", "这", "那", "个", "一直", "什么", "怎么", "为什么", "请", "给", "让", "对", "把", "被", "说", "我们", "他们", "已经", "现在", "今天", "昨天", "一下", "问题", "客户", "反映"])


@dataclass(frozen=True)
class Theme:
    label: str  # its heaviest words, e.g. 「电话 / 打不通 / 排队」
    complaints: int
    example: str  # the complaint nearest its centre


def _words(text: str) -> list[str]:
    import jieba

    return [w for w in jieba.lcut(text) if len(w.strip()) > 1 and w not in STOP_WORDS and not w.isdigit()]


def themes(texts: list[str]) -> list[Theme]:
    """The complaint themes of ``texts``, the most frequent first."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        return []
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectoriser = TfidfVectorizer(tokenizer=_words, token_pattern=None, lowercase=False)
    try:
        matrix = vectoriser.fit_transform(texts)
    except ValueError:  # nothing but stop words
        return [Theme("其他", len(texts), texts[0][:80])]
    k = max(1, min(MAX_THEMES, round(len(texts) / PER_THEME), matrix.shape[0]))
    model = KMeans(n_clusters=k, n_init=10, random_state=0).fit(matrix)
    terms = np.array(vectoriser.get_feature_names_out())
    found = []
    for c in range(k):
        members = np.flatnonzero(model.labels_ == c)
        if members.size == 0:
            continue
        centre = model.cluster_centers_[c]
        top = [t for t in terms[np.argsort(centre)[::-1][:3]] if centre[vectoriser.vocabulary_[t]] > 0]
        nearest = members[np.argmin(((matrix[members].toarray() - centre) ** 2).sum(axis=1))]
        found.append(Theme(" / ".join(top) or "其他", int(members.size), texts[nearest][:80]))
    return sorted(found, key=lambda t: -t.complaints)
