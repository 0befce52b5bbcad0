"""The knowledge base: FAQ import, retrieval by meaning, and the paraphrase matcher behind both.

A query and a candidate question are compared on the similarities in ``FEATURES``, fused by a
logistic regression trained on the shipped paraphrase data:

1. BM25 over finance-aware words (each word also standing for its synonym group, 入金 ≈ 转入) and
   over character bigrams (typos, unsegmented names), in both directions;
2. cosine of TF-IDF vectors (words + character n-grams) and of their LSA embeddings;
3. the intent model's view: Bhattacharyya similarity and margin cosine of the two intent
   distributions ("钱咋还没到" and "转账显示成功但钱没到怎么办" share no words, but the intent);
4. the *concept model*: a linear classifier over the ~200 FAQ questions, taught by ~1,500
   customer paraphrases (``faq_paraphrases.csv``) and the answers' first sentences — a small
   learned sentence embedding in which paraphrases land together; imported questions join it as
   new concepts;
5. evidence of difference: finance topics discussed with different terms, and members of a
   contrast group (``synonyms.yaml``: 融资/融券, 转入/转出, 交易密码/资金密码 …) on either side;
6. lexical overlap weighted by concept agreement, because shared words mean opposite things for
   two questions about the same concept and for two that only look alike.

The fusion learns from paraphrase/question and paraphrase/paraphrase pairs with mined hard
negatives, from contrast pairs (one term swapped), and from hand-written hard pairs
(``kb_pairs_train.csv``); none of it is taken from ``data/eval``. The match threshold maximises
F1 on out-of-fold fusion scores of those training pairs.
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
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, cross_val_predict
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.assistant import registry
from brokercare.assistant.classifier import Features, TextClassifier, _softmax, _View
from brokercare.assistant.lexicon import DATA, get_lexicon
from brokercare.assistant.models import KbEntry
from brokercare.core.database import utcnow
from brokercare.core.errors import ValidationFailed

FEATURES = ("bm25_word", "bm25_word_rev", "bm25_char", "bm25_char_rev", "tfidf", "lsa", "intent", "topic",
            "same_intent", "conflict", "contrast", "concept", "same_concept", "concept_known", "concept_cos", "length_ratio",
            "tfidf_x_concept", "char_x_concept", "word_x_concept", "intent_cos",
            "char_x_novel", "word_x_novel")
K1, B = 1.2, 0.75
#: Bump when the Matcher's pickled shape changes, so processes stop loading an older cached one.
MATCHER_FORMAT = 2
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
    concept: np.ndarray
    embedding: np.ndarray
    topics: list[frozenset]
    terms: list[dict]
    top_intent: np.ndarray
    numbers: list[frozenset]
    contrasts: list[dict]
    word_q: sparse.csr_matrix
    word_mass: np.ndarray
    char_q: sparse.csr_matrix
    char_mass: np.ndarray
    length: np.ndarray
    best_margin: np.ndarray

    @property
    def top_concept(self) -> np.ndarray:
        return self.concept.argmax(axis=1)

    @property
    def known(self) -> np.ndarray:
        """How surely a text belongs to *some* concept the model was taught, from its best SVM
        margin: 0 at -0.7 (a question about something else), 1 at +0.2 (inside a concept). The
        softmax cannot say this — it is confident even for a question it never saw the like of."""
        return np.clip((self.best_margin + 0.7) / 0.9, 0.0, 1.0)


class Matcher:
    """Similarity of two customer questions, as a probability that they mean the same.

    Besides the lexical views it has a *concept model*: a linear classifier over the shipped FAQ
    questions and their paraphrases that maps any sentence to a distribution over the FAQ's
    ~200 concepts — a small learned sentence embedding. Two sentences asking the same thing in
    different words land on the same concept; two that share most characters but ask different
    things (融资利率 vs 融券费率) land on different ones, which the lexical features cannot see.
    """

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
        self._extended: dict[tuple, TextClassifier] = {}
        texts, labels = _concept_data()
        aux_texts, aux_labels = _answer_openings()
        self.concepts = TextClassifier(c=0.5).fit(texts + aux_texts, labels + aux_labels,
                                                  features=[_concept_view(Features.of(t)) for t in texts + aux_texts])
        self._fit_fusion(texts, labels)

    # -- encoding ---------------------------------------------------------------------------------
    @cached_property
    def _tfidf_view(self) -> _View:
        return _View(self.tfidf, 1.0, 0)

    def encode(self, texts: list[str], *, concept: np.ndarray | None = None,
               concepts: TextClassifier | None = None) -> _Encoded:
        """Every view of ``texts``; ``concept`` overrides the concept model's margins (out-of-fold
        margins while training the fusion), ``concepts`` the concept model (one that also knows a
        broker's imported questions)."""
        feats = [Features.of(t) for t in texts]
        words = [_words(f) for f in feats]
        chars = [_bigrams(f) for f in feats]
        tfidf = self.tfidf.transform(feats)
        lsa = np.asarray(tfidf @ self.components)
        lsa /= np.linalg.norm(lsa, axis=1, keepdims=True) + 1e-9
        model, _info = registry.load("intent")
        clf = getattr(model, "clf", model)
        intent_margins = clf.margins(feats).astype(np.float64)
        intent = np.sqrt(_softmax(intent_margins / 0.5))
        intent_emb = intent_margins - intent_margins.mean(axis=1, keepdims=True)
        intent_emb /= np.linalg.norm(intent_emb, axis=1, keepdims=True) + 1e-9
        if concept is None:
            concept = (concepts or self.concepts).margins([_concept_view(f) for f in feats]).astype(np.float64)
        margins = concept
        concept = np.sqrt(_softmax(margins / self.concepts.temperature))
        embedding = margins - margins.mean(axis=1, keepdims=True)
        embedding /= np.linalg.norm(embedding, axis=1, keepdims=True) + 1e-9
        embedding = np.hstack([embedding, intent_emb])  # concept part, then intent part
        lex = get_lexicon()
        topics = [frozenset(lex.topics(f.normalised)) for f in feats]
        terms = [lex.terms_by_topic(f.normalised) for f in feats]
        numbers = [frozenset(_NUMBER.findall(f.normalised)) for f in feats]
        contrasts = [_contrast_terms(t) for t in texts]
        wq, wm = self.word_bm25.query_matrix(words)
        cq, cm = self.char_bm25.query_matrix(chars)
        length = np.array([max(len(c), 1) for c in chars], dtype=float)
        return _Encoded(self.word_bm25.doc_matrix(words), self.char_bm25.doc_matrix(chars), tfidf, lsa, intent,
                        concept, embedding, topics, terms, intent.argmax(axis=1), numbers, contrasts, wq, wm, cq, cm,
                        length, margins.max(axis=1))

    @staticmethod
    def features(q: _Encoded, c: _Encoded) -> np.ndarray:
        """Similarity features of every query against every candidate: (nq, nc, len(FEATURES))."""
        bw = (q.word_q @ c.words.T).toarray() / q.word_mass[:, None]
        bwr = (c.word_q @ q.words.T).toarray().T / c.word_mass[None, :]
        bc = (q.char_q @ c.chars.T).toarray() / q.char_mass[:, None]
        bcr = (c.char_q @ q.chars.T).toarray().T / c.char_mass[None, :]
        tfidf = (q.tfidf @ c.tfidf.T).toarray()
        lsa = q.lsa @ c.lsa.T
        intent = q.intent @ c.intent.T
        concept = q.concept @ c.concept.T
        k = len(q.concept[0]) if len(q.concept) else 0
        ccos = q.embedding[:, :k] @ c.embedding[:, :k].T
        icos = q.embedding[:, k:] @ c.embedding[:, k:].T
        topic = np.zeros_like(lsa)
        conflict = np.zeros_like(lsa)
        contrast = np.zeros_like(lsa)
        for i in range(len(q.topics)):
            for j in range(len(c.topics)):
                topic[i, j] = _jaccard(q.topics[i], c.topics[j])
                conflict[i, j] = _conflict(q.terms[i], c.terms[j], q.numbers[i], c.numbers[j])
                if q.contrasts[i] and c.contrasts[j]:
                    contrast[i, j] = _conflict(q.contrasts[i], c.contrasts[j], frozenset(), frozenset())
        same = (q.top_intent[:, None] == c.top_intent[None, :]).astype(float)
        same_concept = (q.top_concept[:, None] == c.top_concept[None, :]).astype(float)
        conf = np.minimum(q.known[:, None], c.known[None, :])
        ratio = np.minimum(q.length[:, None], c.length[None, :]) / np.maximum(q.length[:, None], c.length[None, :])
        return _stack(bw, bwr, bc, bcr, tfidf, lsa, intent, topic, same, conflict, contrast, concept, same_concept, conf, ccos, ratio, icos)

    def features_one(self, text: str, c: _Encoded, index: _CandidateIndex,
                     concepts: TextClassifier | None = None) -> np.ndarray:
        """``features(encode([text]), c)[0]`` for one query, as the knowledge base searches on
        every message: the query's sparse views are kept as (column, value) lists and met with
        the candidates' column-major matrices, and the topic/number/contrast comparisons visit
        only the candidates sharing something with the query, instead of building scipy and
        sklearn objects per call and looping over every candidate in Python. A test holds the
        two paths equal."""
        f = Features.of(text)
        words, chars = _words(f), _bigrams(f)
        cols, vals = self._tfidf_view.row(_views(f))
        vals = np.asarray(vals)
        tfidf = _column_dot(index.tfidf, cols, vals)
        q_lsa = vals @ self.components[cols] if cols else np.zeros(self.components.shape[1])
        q_lsa = q_lsa / (np.linalg.norm(q_lsa) + 1e-9)
        lsa = c.lsa @ q_lsa
        bw, bwr = _bm25_one(self.word_bm25, words, index.words, index.word_q, c.word_mass)
        bc, bcr = _bm25_one(self.char_bm25, chars, index.chars, index.char_q, c.char_mass)
        model, _info = registry.load("intent")
        clf = getattr(model, "clf", model)
        intent_margins = clf.margins([f]).astype(np.float64)[0]
        q_intent = np.sqrt(_softmax((intent_margins / 0.5)[None, :]))[0]
        intent_emb = intent_margins - intent_margins.mean()
        intent_emb /= np.linalg.norm(intent_emb) + 1e-9
        margins = (concepts or self.concepts).margins([_concept_view(f)]).astype(np.float64)[0]
        q_concept = np.sqrt(_softmax((margins / self.concepts.temperature)[None, :]))[0]
        emb = margins - margins.mean()
        emb /= np.linalg.norm(emb) + 1e-9
        k = len(q_concept)
        intent = c.intent @ q_intent
        concept = c.concept @ q_concept
        ccos = c.embedding[:, :k] @ emb
        icos = c.embedding[:, k:] @ intent_emb
        lex = get_lexicon()
        topics = frozenset(lex.topics(f.normalised))
        terms = lex.terms_by_topic(f.normalised)
        numbers = frozenset(_NUMBER.findall(f.normalised))
        contrasts = _contrast_terms(text)
        topic, conflict, contrast = index.overlaps(topics, terms, numbers, contrasts, c)
        same = (c.top_intent == int(q_intent.argmax())).astype(float)
        same_concept = (c.top_concept == int(q_concept.argmax())).astype(float)
        conf = np.minimum(float(np.clip((margins.max() + 0.7) / 0.9, 0.0, 1.0)), c.known)
        length = float(max(len(chars), 1))
        ratio = np.minimum(length, c.length) / np.maximum(length, c.length)
        return _stack(bw, bwr, bc, bcr, tfidf, lsa, intent, topic, same, conflict, contrast, concept,
                      same_concept, conf, ccos, ratio, icos)

    @staticmethod
    def pair_features(a: _Encoded, b: _Encoded) -> np.ndarray:
        n = a.lsa.shape[0]
        bw = np.asarray(a.word_q.multiply(b.words).sum(axis=1)).ravel() / a.word_mass
        bwr = np.asarray(b.word_q.multiply(a.words).sum(axis=1)).ravel() / b.word_mass
        bc = np.asarray(a.char_q.multiply(b.chars).sum(axis=1)).ravel() / a.char_mass
        bcr = np.asarray(b.char_q.multiply(a.chars).sum(axis=1)).ravel() / b.char_mass
        tfidf = np.asarray(a.tfidf.multiply(b.tfidf).sum(axis=1)).ravel()
        lsa = np.einsum("ij,ij->i", a.lsa, b.lsa)
        intent = np.einsum("ij,ij->i", a.intent, b.intent)
        concept = np.einsum("ij,ij->i", a.concept, b.concept)
        k = a.concept.shape[1]
        ccos = np.einsum("ij,ij->i", a.embedding[:, :k], b.embedding[:, :k])
        icos = np.einsum("ij,ij->i", a.embedding[:, k:], b.embedding[:, k:])
        topic = np.array([_jaccard(a.topics[i], b.topics[i]) for i in range(n)])
        conflict = np.array([_conflict(a.terms[i], b.terms[i], a.numbers[i], b.numbers[i]) for i in range(n)])
        contrast = np.array([_conflict(a.contrasts[i], b.contrasts[i], frozenset(), frozenset()) for i in range(n)])
        same = (a.top_intent == b.top_intent).astype(float)
        same_concept = (a.top_concept == b.top_concept).astype(float)
        conf = np.minimum(a.known, b.known)
        ratio = np.minimum(a.length, b.length) / np.maximum(a.length, b.length)
        return _stack(bw, bwr, bc, bcr, tfidf, lsa, intent, topic, same, conflict, contrast, concept, same_concept, conf, ccos, ratio, icos)

    # -- fusion -----------------------------------------------------------------------------------
    def with_questions(self, entries: list[tuple[str, str]]) -> TextClassifier:
        """A concept model that also knows these (question, answer) entries, each as its own concept,
        so a question a broker imported is matched by meaning like a shipped one. Same temperature
        as the shipped model, so the fusion reads its output on the same scale."""
        known = set(self.concepts.labels)
        new = [(q, a) for q, a in entries if q not in known]
        if not new:
            return self.concepts
        key = tuple(new)
        hit = self._extended.get(key)
        if hit is None:
            texts, labels = _concept_data()
            aux_texts, aux_labels = _answer_openings()
            openings = [_answer_opening(a) for _q, a in new]
            extra = [q for q, _a in new]
            all_texts = texts + aux_texts + extra + openings
            hit = TextClassifier(c=0.5).fit(all_texts, labels + aux_labels + extra + extra,
                                            features=[_concept_view(Features.of(t)) for t in all_texts],
                                            temperature=self.concepts.temperature)
            self._extended.clear()
            self._extended[key] = hit
        return hit

    def _oof_concepts(self, texts: list[str], labels: list[str], *, novel: bool) -> np.ndarray:
        """Concept margins of the concept model's own training texts, each predicted by a model
        that never saw it: the fusion must learn how much to trust the concept of a *new* sentence.
        With ``novel`` the held-out fold is whole concepts, as for a question a broker imported
        that no paraphrase taught the concept model: there only the lexical views can match it."""
        feats = [_concept_view(Features.of(t)) for t in texts]
        aux_texts, aux_labels = _answer_openings()
        aux_feats = [_concept_view(Features.of(t)) for t in aux_texts]
        out = np.full((len(texts), len(self.concepts.labels)), -1.0)
        col = {lab: j for j, lab in enumerate(self.concepts.labels)}
        y = np.asarray(labels)
        split = (GroupKFold(5).split(texts, groups=labels) if novel
                 else KFold(5, shuffle=True, random_state=7).split(texts))
        for train, test in split:
            clf = TextClassifier(c=0.5).fit([texts[i] for i in train] + aux_texts, y[train].tolist() + aux_labels,
                                            features=[feats[i] for i in train] + aux_feats,
                                            temperature=self.concepts.temperature)
            out[np.ix_(test, [col[lab] for lab in clf.labels])] = clf.margins([feats[i] for i in test])
        return out

    def _fit_fusion(self, texts: list[str], labels: list[str]) -> None:
        """Train the fusion on pairs built from the concept data (every text out-of-fold, once with
        its concept known to the concept model and once with it unknown) plus contrast and
        hand-written hard pairs; the threshold maximises F1 on out-of-fold fusion scores.

        Hard negatives are mined twice: first the lexically closest questions of other concepts,
        then the ones a fusion trained on those still confuses most. Mining only by lexical
        closeness would teach the fusion that shared words are a trap, and it would then miss a
        broker's imported question that a customer asks in nearly the same words."""
        y_concept = np.asarray(labels)
        faq_rows = np.array([i for i, q in enumerate(texts) if q == labels[i]])
        regimes = []
        for novel in (False, True):
            enc = self.encode(texts, concept=self._oof_concepts(texts, labels, novel=novel))
            regimes.append((enc, self.features(enc, _subset(enc, faq_rows))))
        fixed_x, fixed_y = [], []
        for enc, _f in regimes:
            x, y = self._paraphrase_pairs(texts, labels, enc)
            fixed_x.extend(x)
            fixed_y.extend(y)
        # Contrast pairs teach that one swapped term (转入 → 转出) turns a question into another one.
        swapped = _contrast_pairs(texts, limit=1)
        swapped = swapped[:: max(1, len(swapped) // 400)]  # a few hundred: a lesson, not the majority
        if swapped:
            fixed_x.extend(self.pair_features(self.encode([a for a, _b in swapped]),
                                              self.encode([b for _a, b in swapped])))
            fixed_y.extend([0] * len(swapped))
        hand = _hand_pairs()
        if hand:
            hf = self.pair_features(self.encode([h[0] for h in hand]), self.encode([h[1] for h in hand]))
            for _ in range(3):  # written to teach exactly the distinctions the generated pairs miss
                fixed_x.extend(hf)
                fixed_y.extend(h[2] for h in hand)
        lexical = [FEATURES.index(n) for n in ("bm25_char", "tfidf", "bm25_word")]
        scorer = None
        for _round in range(2):
            xs, ys = list(fixed_x), list(fixed_y)
            for _enc, f in regimes:
                hardness = f[..., lexical].sum(axis=-1) if scorer is None else _probability(scorer, f)
                x, y = _question_pairs(f, y_concept, faq_rows, hardness)
                xs.extend(x)
                ys.extend(y)
            x, y = np.asarray(xs), np.asarray(ys)
            scorer = _fusion_model().fit(x, y)
        self.fusion = scorer
        oof = cross_val_predict(_fusion_model(), x, y, cv=StratifiedKFold(5, shuffle=True, random_state=7),
                                method="predict_proba")[:, 1]
        self.threshold = _best_threshold(oof, y)

    def _paraphrase_pairs(self, texts: list[str], labels: list[str], enc: _Encoded) -> tuple[list, list]:
        """Paraphrase against paraphrase (neither side the FAQ's own wording, as in real use): siblings
        as positives, the closest paraphrases of other concepts by characters as negatives."""
        y_concept = np.asarray(labels)
        a_idx, b_idx, pair_y = [], [], []
        by_concept: dict[str, list[int]] = {}
        for i, lab in enumerate(labels):
            by_concept.setdefault(lab, []).append(i)
        for members in by_concept.values():
            paras = [i for i in members if texts[i] != labels[i]]
            for k in range(len(paras) - 1):
                a_idx.append(paras[k])
                b_idx.append(paras[k + 1])
                pair_y.append(1)
        sim = (enc.tfidf @ enc.tfidf.T).toarray()
        sim[y_concept[:, None] == y_concept[None, :]] = -1
        for i in range(len(texts)):
            for j in np.argsort(-sim[i])[:2]:
                a_idx.append(i)
                b_idx.append(int(j))
                pair_y.append(0)
        pf = self.pair_features(_subset(enc, np.array(a_idx)), _subset(enc, np.array(b_idx)))
        return list(pf), pair_y

    def probability(self, feats: np.ndarray) -> np.ndarray:
        return _probability(self.fusion, feats)

    def score_pairs(self, a: list[str], b: list[str]) -> np.ndarray:
        return self.probability(self.pair_features(self.encode(a), self.encode(b)))

    def rank(self, queries: list[str], candidates: list[str]) -> np.ndarray:
        """(n_queries, n_candidates) match probabilities."""
        return self.probability(self.features(self.encode(queries), self.encode(candidates)))


def _stack(bw, bwr, bc, bcr, tfidf, lsa, intent, topic, same, conflict, contrast, concept, same_concept, conf, ccos, ratio, icos):
    """The feature tensor in ``FEATURES`` order. Lexical overlap means opposite things depending on
    the concept: between two questions about the same thing it picks the closer wording, between
    different ones it is the trap of hard negatives — so it also enters multiplied by the concept
    similarity, which a linear fusion cannot form by itself."""
    bw, bwr, bc, bcr = (np.minimum(v, 1.5) for v in (bw, bwr, bc, bcr))
    return np.stack([bw, bwr, bc, bcr, tfidf, lsa, intent, topic, same, conflict, contrast, concept, same_concept, conf, ccos,
                     ratio, tfidf * concept, (bc + bcr) / 2 * concept, (bw + bwr) / 2 * concept, icos,
                     (bc + bcr) / 2 * (1 - conf), (bw + bwr) / 2 * (1 - conf)], axis=-1)


def _column_dot(m: sparse.csc_matrix, cols: list[int], vals: np.ndarray | None = None) -> np.ndarray:
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


def _bm25_one(bm25: _Bm25, tokens: list[str], docs_csc: sparse.csc_matrix, queries_csc: sparse.csc_matrix,
              cand_mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BM25 of one query against every candidate, both ways (query terms in the candidate; the
    candidate's terms in the query), as :meth:`Matcher.features` computes for a batch."""
    unique = set(tokens)
    mass = sum(bm25.idf.get(t, bm25.unknown_idf) for t in unique) or 1.0
    qcols = [bm25.vocab[t] for t in unique if t in bm25.vocab]
    forward = _column_dot(docs_csc, qcols) / mass
    dl = len(tokens) or 1
    dcols, dvals = [], []
    for t, tf in Counter(tokens).items():
        j = bm25.vocab.get(t)
        if j is not None:
            dcols.append(j)
            dvals.append(bm25.idf[t] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / bm25.avgdl)))
    backward = _column_dot(queries_csc, dcols, np.asarray(dvals)) / cand_mass
    return forward, backward


class _CandidateIndex:
    """The knowledge base's side of :meth:`Matcher.features_one`, built once per knowledge base:
    column-major matrices and, per topic, number and contrast group, the candidates that have it."""

    def __init__(self, c: _Encoded) -> None:
        self.n = c.lsa.shape[0]
        self.tfidf = c.tfidf.tocsc()
        self.words, self.word_q = c.words.tocsc(), c.word_q.tocsc()
        self.chars, self.char_q = c.chars.tocsc(), c.char_q.tocsc()
        self.topic_size = np.array([len(t) for t in c.topics], dtype=float)
        self.by_topic: dict[str, list[int]] = {}
        for j, topics in enumerate(c.topics):
            for t in topics:
                self.by_topic.setdefault(t, []).append(j)
        self.with_numbers = [j for j, n in enumerate(c.numbers) if n]
        self.with_contrasts = [j for j, x in enumerate(c.contrasts) if x]

    def overlaps(self, topics: frozenset, terms: dict, numbers: frozenset, contrasts: dict,
                 c: _Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Topic Jaccard, conflict and contrast of one query against every candidate (zero wherever
        the two share no topic, numbers or contrast group, which the loops below skip)."""
        topic, conflict, contrast = np.zeros(self.n), np.zeros(self.n), np.zeros(self.n)
        shared = np.zeros(self.n)
        for t in topics:
            for j in self.by_topic.get(t, ()):
                shared[j] += 1
        if topics:
            has = self.topic_size > 0
            topic[has] = shared[has] / (len(topics) + self.topic_size[has] - shared[has])
        touched = set(np.flatnonzero(shared).tolist())
        if numbers:
            touched.update(self.with_numbers)
        for j in touched:
            conflict[j] = _conflict(terms, c.terms[j], numbers, c.numbers[j])
        if contrasts:
            for j in self.with_contrasts:
                contrast[j] = _conflict(contrasts, c.contrasts[j], frozenset(), frozenset())
        return topic, conflict, contrast


def _probability_linear(model: LogisticRegression, feats: np.ndarray) -> np.ndarray:
    """``model.predict_proba(feats)[:, 1]`` of a binary logistic regression, without sklearn's
    per-call input validation (a fifth of a search's time for one query)."""
    return expit(feats @ model.coef_[0] + model.intercept_[0])


def _probability(model, feats: np.ndarray) -> np.ndarray:
    return model.predict_proba(feats.reshape(-1, len(FEATURES)))[:, 1].reshape(feats.shape[:-1])


def _question_pairs(f: np.ndarray, y_concept: np.ndarray, faq_rows: np.ndarray,
                    hardness: np.ndarray) -> tuple[list, list]:
    """Each text against its FAQ question (positive), the four hardest other questions and two
    random ones (negatives); ``f`` holds every text against every FAQ question."""
    rng = np.random.default_rng(7)
    xs, ys = [], []
    faq_labels = y_concept[faq_rows]
    for i in range(f.shape[0]):
        gold = np.flatnonzero(faq_labels == y_concept[i])
        wrong = np.flatnonzero(faq_labels != y_concept[i])
        if gold.size and faq_rows[gold[0]] != i:
            xs.append(f[i, gold[0]])
            ys.append(1)
        hard = wrong[np.argsort(-hardness[i, wrong])[:4]]
        for j in (*hard, *rng.choice(wrong, 2, replace=False)):
            xs.append(f[i, j])
            ys.append(0)
    return xs, ys


def _fusion_model() -> LogisticRegression:
    return LogisticRegression(C=3.0, class_weight="balanced", max_iter=2000)


def _subset(e: _Encoded, rows: np.ndarray) -> _Encoded:
    return _Encoded(e.words[rows], e.chars[rows], e.tfidf[rows], e.lsa[rows], e.intent[rows], e.concept[rows],
                    e.embedding[rows],
                    [e.topics[i] for i in rows], [e.terms[i] for i in rows], e.top_intent[rows],
                    [e.numbers[i] for i in rows], [e.contrasts[i] for i in rows], e.word_q[rows], e.word_mass[rows], e.char_q[rows],
                    e.char_mass[rows], e.length[rows], e.best_margin[rows])


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _contrast_groups() -> list[list[str]]:
    import yaml

    return [list(map(str, g)) for g in yaml.safe_load(DATA.joinpath("synonyms.yaml").read_text("utf-8"))["contrasts"]]


_CONTRASTS = _contrast_groups()


def _contrast_terms(text: str) -> dict[int, frozenset]:
    """Members of each contrast group the text names (case-insensitive), keyed by group."""
    low = text.lower()
    out = {}
    for g, group in enumerate(_CONTRASTS):
        found = frozenset(t for t in group if t.lower() in low)
        if found:
            out[g] = found
    return out


def _contrast_pairs(texts: list[str], limit: int = 3) -> list[tuple[str, str]]:
    """Sentences with one contrast term swapped for another of its group ("资金密码忘了" →
    "交易密码忘了"): nearly the same characters, a different question."""
    out = []
    for t in texts:
        made = 0
        for g, found in _contrast_terms(t).items():
            if len(found) != 1 or made >= limit:
                continue
            (term,) = found
            start = t.lower().find(term.lower())
            for other in _CONTRASTS[g]:
                if other != term and made < limit:
                    out.append((t, t[:start] + other + t[start + len(term):]))
                    made += 1
    return out


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


def _concept_data() -> tuple[list[str], list[str]]:
    """Texts labelled with the FAQ question they ask: each question itself plus its paraphrases."""
    pairs = [(q, q) for q, _a, _i in starter_faq()] + _paraphrases()
    return [p for p, _q in pairs], [q for _p, q in pairs]


def _answer_openings() -> tuple[list[str], list[str]]:
    """The first sentence of each FAQ answer, as one more example of its question's concept: an
    answer names the terms a customer may use instead of the question's ("资金密码用于银证转账")."""
    faq = starter_faq()
    return [_answer_opening(a) for _q, a, _i in faq], [q for q, _a, _i in faq]


def _answer_opening(answer: str) -> str:
    return re.split(r"(?<=[。！？])", answer, maxsplit=1)[0][:80]


def _concept_view(f: Features) -> Features:
    """The concept model's view: content words (no particles: "能" or "吗" must not tie a question
    to whichever concept's paraphrases happened to use them) plus their synonym groups, so 入金 and
    转入 share a feature."""
    words = [w for w in f.words if not any(part in _STOP or _PUNCT.fullmatch(part) for part in w.split("_"))]
    return Features(f.normalised, get_lexicon().expand(words), f.chars)


def _hand_pairs() -> list[tuple[str, str, int]]:
    return [(r["sentence1"], r["sentence2"], int(r["label"])) for r in _read_csv("kb_pairs_train.csv")]


def _reference_corpus() -> list[str]:
    texts, _labels = registry.shipped_data("intent")
    faq = starter_faq()
    return texts + [q for q, _a, _i in faq] + [a for _q, a, _i in faq] + [p for p, _q in _paraphrases()]


_matcher: Matcher | None = None
_matcher_lock = threading.Lock()


def get_matcher() -> Matcher:
    """The process-wide matcher: trained once, deterministically, from shipped data and the active
    intent model, and cached in the data dir so other processes load it instead of training."""
    global _matcher
    if _matcher is None:
        with _matcher_lock:
            if _matcher is None:
                _matcher = _cached_matcher()
    return _matcher


def _cached_matcher() -> Matcher:
    _model, info = registry.load("intent")
    key = f"{MATCHER_FORMAT}|{info.version}|{info.fingerprint}|{len(FEATURES)}".encode()
    for name in ("faq_starter.csv", "faq_paraphrases.csv", "kb_pairs_train.csv", "synonyms.yaml", "finance_terms.tsv"):
        key += DATA.joinpath(name).read_bytes()
    return registry.cached_build("kb-matcher", key, Matcher)


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
        self.concepts = self.matcher.with_questions([(e[0], e[1]) for e in entries])
        self._enc = self.matcher.encode([e[0] for e in entries], concepts=self.concepts) if entries else None
        self._index = _CandidateIndex(self._enc) if entries else None

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
        feats = self.matcher.features_one(query, self._enc, self._index, self.concepts)
        p = _probability_linear(self.matcher.fusion, feats)
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
