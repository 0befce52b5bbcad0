"""The matching model: how likely two customer questions mean the same, from the similarities in
``FEATURES`` fused by a logistic regression (trained in :mod:`brokercare.assistant.kb.training`).

Every text is encoded once (:meth:`Matcher.encode`) into lexical views, probability
distributions (the intent model's, the concept model's) and unit-length sentence embeddings
(``Encoded.dense``). Three paths compare encodings — every query against every candidate
(:meth:`Matcher.features`), row-aligned pairs (:meth:`Matcher.pair_features`) and one query
against a knowledge base (:meth:`Matcher.features_one`, the hot path) — each producing the same
named similarities, which :func:`stack` puts in ``FEATURES`` order with their interactions.

To add a sentence encoder: return its unit-length embeddings from :meth:`Matcher._dense` under a
new name, and add that name to ``DENSE`` and ``FEATURES``; the three paths compare every dense view
by cosine, and the fusion learns its weight when the matcher is retrained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from brokercare.assistant import registry
from brokercare.assistant.classifier import Features, TextClassifier, _softmax, _View
from brokercare.assistant.encoder import get_encoder
from brokercare.assistant.kb import corpus
from brokercare.assistant.kb.lexical import (
    NUMBER,
    Bm25,
    bigrams,
    bm25_one,
    column_dot,
    concept_view,
    conflict,
    contrast_terms,
    jaccard,
    views,
    words,
)
from brokercare.assistant.lexicon import get_lexicon

#: The fusion's inputs in the order its weights are learned: similarities every comparison path
#: computes, and the interactions of :data:`INTERACTIONS`.
FEATURES = ("bm25_word", "bm25_word_rev", "bm25_char", "bm25_char_rev", "tfidf", "lsa", "intent", "topic",
            "same_intent", "conflict", "contrast", "concept", "same_concept", "concept_known", "concept_cos",
            "length_ratio", "tfidf_x_concept", "char_x_concept", "word_x_concept", "intent_cos",
            "char_x_novel", "word_x_novel", "encoder")
#: Unit-length embeddings compared by cosine, each the feature of the same name. ``encoder`` is the
#: trained Chinese sentence encoder (:mod:`brokercare.assistant.encoder`): paraphrase knowledge from
#: real users' question pairs, beyond the FAQ's own concepts.
DENSE = ("lsa", "concept_cos", "intent_cos", "encoder")
#: BM25 overlaps are capped: a long candidate must not win on sheer length.
BM25_CAP = 1.5


def _char_overlap(s: dict) -> np.ndarray:
    return (s["bm25_char"] + s["bm25_char_rev"]) / 2


def _word_overlap(s: dict) -> np.ndarray:
    return (s["bm25_word"] + s["bm25_word_rev"]) / 2


#: Lexical overlap means opposite things depending on the concept: between two questions about the
#: same thing it picks the closer wording, between different ones it is the trap of hard negatives,
#: and for a question the concept model does not know it is the only evidence. A linear fusion
#: cannot form these products by itself.
INTERACTIONS: dict[str, Callable[[dict], np.ndarray]] = {
    "tfidf_x_concept": lambda s: s["tfidf"] * s["concept"],
    "char_x_concept": lambda s: _char_overlap(s) * s["concept"],
    "word_x_concept": lambda s: _word_overlap(s) * s["concept"],
    "char_x_novel": lambda s: _char_overlap(s) * (1 - s["concept_known"]),
    "word_x_novel": lambda s: _word_overlap(s) * (1 - s["concept_known"]),
}


def stack(sims: dict[str, np.ndarray]) -> np.ndarray:
    """The feature tensor in ``FEATURES`` order (last axis) from named similarities of any shape."""
    s = dict(sims)
    for name in ("bm25_word", "bm25_word_rev", "bm25_char", "bm25_char_rev"):
        s[name] = np.minimum(s[name], BM25_CAP)
    return np.stack([s[name] if name in s else INTERACTIONS[name](s) for name in FEATURES], axis=-1)


def _unit(m: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit length: margins become a direction to compare by cosine."""
    m = m - m.mean(axis=-1, keepdims=True)
    return m / (np.linalg.norm(m, axis=-1, keepdims=True) + 1e-9)


@dataclass
class Encoded:
    """Every view of a list of texts, row-aligned."""

    words: sparse.csr_matrix
    chars: sparse.csr_matrix
    tfidf: sparse.csr_matrix
    intent: np.ndarray  # sqrt of the intent distribution (dot product = Bhattacharyya similarity)
    concept: np.ndarray  # sqrt of the concept distribution
    dense: dict[str, np.ndarray]  # DENSE name -> unit-length embeddings
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

    def __len__(self) -> int:
        return len(self.length)

    @property
    def top_concept(self) -> np.ndarray:
        return self.concept.argmax(axis=1)

    @property
    def known(self) -> np.ndarray:
        """How surely a text belongs to *some* concept the model was taught, from its best SVM
        margin: 0 at -0.7 (a question about something else), 1 at +0.2 (inside a concept). The
        softmax cannot say this — it is confident even for a question it never saw the like of."""
        return _known(self.best_margin)

    def subset(self, rows: np.ndarray) -> Encoded:
        pick = [int(i) for i in rows]
        return Encoded(self.words[rows], self.chars[rows], self.tfidf[rows], self.intent[rows], self.concept[rows],
                       {k: v[rows] for k, v in self.dense.items()}, [self.topics[i] for i in pick],
                       [self.terms[i] for i in pick], self.top_intent[rows], [self.numbers[i] for i in pick],
                       [self.contrasts[i] for i in pick], self.word_q[rows], self.word_mass[rows], self.char_q[rows],
                       self.char_mass[rows], self.length[rows], self.best_margin[rows])


def _known(best_margin: np.ndarray | float) -> np.ndarray:
    return np.clip((best_margin + 0.7) / 0.9, 0.0, 1.0)


def _intent_margins(feats: list[Features]) -> np.ndarray:
    model, _info = registry.load("intent")
    return getattr(model, "clf", model).margins(feats).astype(np.float64)


class Matcher:
    """Similarity of two customer questions, as a probability that they mean the same.

    Besides the lexical views it has a *concept model*: a linear classifier over the shipped FAQ
    questions and their paraphrases that maps any sentence to a distribution over the FAQ's
    ~200 concepts — a small learned sentence embedding. Two sentences asking the same thing in
    different words land on the same concept; two that share most characters but ask different
    things (融资利率 vs 融券费率) land on different ones, which the lexical features cannot see.
    ``fusion`` and ``threshold`` are set by training.
    """

    fusion: LogisticRegression
    threshold: float

    def __init__(self) -> None:
        feats = [Features.of(t) for t in corpus.reference_corpus()]
        self.word_bm25 = Bm25([words(f) for f in feats])
        self.char_bm25 = Bm25([bigrams(f) for f in feats])
        self.tfidf = TfidfVectorizer(analyzer=views, sublinear_tf=True, min_df=2, max_features=20000)
        x = self.tfidf.fit_transform(feats)
        self.svd = TruncatedSVD(n_components=min(96, x.shape[1] - 1, len(feats) - 1), n_iter=3, random_state=7)
        self.svd.fit(x)
        self.components = np.ascontiguousarray(self.svd.components_.T)
        self._extended: dict[tuple, TextClassifier] = {}
        texts, labels = corpus.concept_data()
        aux_texts, aux_labels = corpus.answer_openings()
        self.concepts = TextClassifier(c=0.5).fit(texts + aux_texts, labels + aux_labels,
                                                  features=[concept_view(Features.of(t)) for t in texts + aux_texts])

    # -- encoding ---------------------------------------------------------------------------------
    @cached_property
    def _tfidf_view(self) -> _View:
        return _View(self.tfidf, 1.0, 0)

    def _concept_probabilities(self, margins: np.ndarray) -> np.ndarray:
        return np.sqrt(_softmax(margins / self.concepts.temperature))

    def encode(self, texts: list[str], *, concept: np.ndarray | None = None,
               concepts: TextClassifier | None = None) -> Encoded:
        """Every view of ``texts``; ``concept`` overrides the concept model's margins (out-of-fold
        margins while training the fusion), ``concepts`` the concept model (one that also knows a
        broker's imported questions)."""
        feats = [Features.of(t) for t in texts]
        word_lists = [words(f) for f in feats]
        chars = [bigrams(f) for f in feats]
        tfidf = self.tfidf.transform(feats)
        lsa = np.asarray(tfidf @ self.components)
        lsa /= np.linalg.norm(lsa, axis=1, keepdims=True) + 1e-9
        intent_margins = _intent_margins(feats)
        intent = np.sqrt(_softmax(intent_margins / 0.5))
        if concept is None:
            concept = (concepts or self.concepts).margins([concept_view(f) for f in feats]).astype(np.float64)
        dense = self._dense(texts, lsa, concept, intent_margins)
        lex = get_lexicon()
        wq, wm = self.word_bm25.query_matrix(word_lists)
        cq, cm = self.char_bm25.query_matrix(chars)
        return Encoded(
            words=self.word_bm25.doc_matrix(word_lists), chars=self.char_bm25.doc_matrix(chars), tfidf=tfidf,
            intent=intent, concept=self._concept_probabilities(concept), dense=dense,
            topics=[frozenset(lex.topics(f.normalised)) for f in feats],
            terms=[lex.terms_by_topic(f.normalised) for f in feats], top_intent=intent.argmax(axis=1),
            numbers=[frozenset(NUMBER.findall(f.normalised)) for f in feats],
            contrasts=[contrast_terms(t) for t in texts], word_q=wq, word_mass=wm, char_q=cq, char_mass=cm,
            length=np.array([max(len(c), 1) for c in chars], dtype=float), best_margin=concept.max(axis=1))

    # -- comparison paths -------------------------------------------------------------------------
    @staticmethod
    def features(q: Encoded, c: Encoded) -> np.ndarray:
        """Similarity features of every query against every candidate: (nq, nc, len(FEATURES))."""
        topic, conflicts, contrast = (np.zeros((len(q), len(c))) for _ in range(3))
        for i in range(len(q)):
            for j in range(len(c)):
                topic[i, j] = jaccard(q.topics[i], c.topics[j])
                conflicts[i, j] = conflict(q.terms[i], c.terms[j], q.numbers[i], c.numbers[j])
                if q.contrasts[i] and c.contrasts[j]:
                    contrast[i, j] = conflict(q.contrasts[i], c.contrasts[j], frozenset(), frozenset())
        sims = {
            "bm25_word": (q.word_q @ c.words.T).toarray() / q.word_mass[:, None],
            "bm25_word_rev": (c.word_q @ q.words.T).toarray().T / c.word_mass[None, :],
            "bm25_char": (q.char_q @ c.chars.T).toarray() / q.char_mass[:, None],
            "bm25_char_rev": (c.char_q @ q.chars.T).toarray().T / c.char_mass[None, :],
            "tfidf": (q.tfidf @ c.tfidf.T).toarray(),
            "intent": q.intent @ c.intent.T,
            "concept": q.concept @ c.concept.T,
            "topic": topic, "conflict": conflicts, "contrast": contrast,
            "same_intent": (q.top_intent[:, None] == c.top_intent[None, :]).astype(float),
            "same_concept": (q.top_concept[:, None] == c.top_concept[None, :]).astype(float),
            "concept_known": np.minimum(q.known[:, None], c.known[None, :]),
            "length_ratio": np.minimum(q.length[:, None], c.length[None, :])
            / np.maximum(q.length[:, None], c.length[None, :]),
        }
        sims.update({name: q.dense[name] @ c.dense[name].T for name in DENSE})
        return stack(sims)

    @staticmethod
    def pair_features(a: Encoded, b: Encoded) -> np.ndarray:
        """Similarity features of row-aligned pairs: (n, len(FEATURES))."""
        n = len(a)
        sims = {
            "bm25_word": np.asarray(a.word_q.multiply(b.words).sum(axis=1)).ravel() / a.word_mass,
            "bm25_word_rev": np.asarray(b.word_q.multiply(a.words).sum(axis=1)).ravel() / b.word_mass,
            "bm25_char": np.asarray(a.char_q.multiply(b.chars).sum(axis=1)).ravel() / a.char_mass,
            "bm25_char_rev": np.asarray(b.char_q.multiply(a.chars).sum(axis=1)).ravel() / b.char_mass,
            "tfidf": np.asarray(a.tfidf.multiply(b.tfidf).sum(axis=1)).ravel(),
            "intent": np.einsum("ij,ij->i", a.intent, b.intent),
            "concept": np.einsum("ij,ij->i", a.concept, b.concept),
            "topic": np.array([jaccard(a.topics[i], b.topics[i]) for i in range(n)]),
            "conflict": np.array([conflict(a.terms[i], b.terms[i], a.numbers[i], b.numbers[i]) for i in range(n)]),
            "contrast": np.array([conflict(a.contrasts[i], b.contrasts[i], frozenset(), frozenset())
                                  for i in range(n)]),
            "same_intent": (a.top_intent == b.top_intent).astype(float),
            "same_concept": (a.top_concept == b.top_concept).astype(float),
            "concept_known": np.minimum(a.known, b.known),
            "length_ratio": np.minimum(a.length, b.length) / np.maximum(a.length, b.length),
        }
        sims.update({name: np.einsum("ij,ij->i", a.dense[name], b.dense[name]) for name in DENSE})
        return stack(sims)

    def features_one(self, text: str, c: Encoded, index: CandidateIndex,
                     concepts: TextClassifier | None = None) -> np.ndarray:
        """``features(encode([text]), c)[0]`` for one query, as the knowledge base searches on
        every message: the query's sparse views are kept as (column, value) lists and met with
        the candidates' column-major matrices, and the topic/number/contrast comparisons visit
        only the candidates sharing something with the query, instead of building scipy and
        sklearn objects per call and looping over every candidate in Python. A test holds the
        two paths equal."""
        f = Features.of(text)
        word_list, chars = words(f), bigrams(f)
        cols, vals = self._tfidf_view.row(views(f))
        vals = np.asarray(vals)
        intent_margins = _intent_margins([f])[0]
        q_intent = np.sqrt(_softmax((intent_margins / 0.5)[None, :]))[0]
        margins = (concepts or self.concepts).margins([concept_view(f)]).astype(np.float64)[0]
        q_concept = self._concept_probabilities(margins[None, :])[0]
        lsa = vals @ self.components[cols] if cols else np.zeros(self.components.shape[1])
        lsa = lsa / (np.linalg.norm(lsa) + 1e-9)
        q_dense = {name: m[0] for name, m in
                   self._dense([text], lsa[None, :], margins[None, :], intent_margins[None, :]).items()}
        lex = get_lexicon()
        topic, conflicts, contrast = index.overlaps(
            frozenset(lex.topics(f.normalised)), lex.terms_by_topic(f.normalised),
            frozenset(NUMBER.findall(f.normalised)), contrast_terms(text), c)
        bw, bwr = bm25_one(self.word_bm25, word_list, index.words, index.word_q, c.word_mass)
        bc, bcr = bm25_one(self.char_bm25, chars, index.chars, index.char_q, c.char_mass)
        length = float(max(len(chars), 1))
        sims = {
            "bm25_word": bw, "bm25_word_rev": bwr, "bm25_char": bc, "bm25_char_rev": bcr,
            "tfidf": column_dot(index.tfidf, cols, vals),
            "intent": c.intent @ q_intent,
            "concept": c.concept @ q_concept,
            "topic": topic, "conflict": conflicts, "contrast": contrast,
            "same_intent": (c.top_intent == int(q_intent.argmax())).astype(float),
            "same_concept": (c.top_concept == int(q_concept.argmax())).astype(float),
            "concept_known": np.minimum(float(_known(margins.max())), c.known),
            "length_ratio": np.minimum(length, c.length) / np.maximum(length, c.length),
        }
        sims.update({name: c.dense[name] @ q_dense[name] for name in DENSE})
        return stack(sims)

    def _dense(self, texts: list[str], lsa: np.ndarray, concept_margins: np.ndarray,
               intent_margins: np.ndarray) -> dict[str, np.ndarray]:
        """The unit-length sentence embeddings of ``texts`` (one row each), by their ``DENSE`` name:
        the LSA of their TF-IDF, the concept and intent models' centred margins, the encoder's."""
        return {"lsa": lsa, "concept_cos": _unit(concept_margins), "intent_cos": _unit(intent_margins),
                "encoder": get_encoder().encode(texts).astype(np.float64)}

    # -- a broker's own questions -----------------------------------------------------------------
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
            texts, labels = corpus.concept_data()
            aux_texts, aux_labels = corpus.answer_openings()
            openings = [corpus.answer_opening(a) for _q, a in new]
            extra = [q for q, _a in new]
            all_texts = texts + aux_texts + extra + openings
            hit = TextClassifier(c=0.5).fit(all_texts, labels + aux_labels + extra + extra,
                                            features=[concept_view(Features.of(t)) for t in all_texts],
                                            temperature=self.concepts.temperature)
            self._extended.clear()
            self._extended[key] = hit
        return hit

    # -- scores -----------------------------------------------------------------------------------
    def probability(self, feats: np.ndarray) -> np.ndarray:
        return probability(self.fusion, feats)

    def score_pairs(self, a: list[str], b: list[str]) -> np.ndarray:
        return self.probability(self.pair_features(self.encode(a), self.encode(b)))

    def rank(self, queries: list[str], candidates: list[str]) -> np.ndarray:
        """(n_queries, n_candidates) match probabilities."""
        return self.probability(self.features(self.encode(queries), self.encode(candidates)))


class CandidateIndex:
    """The knowledge base's side of :meth:`Matcher.features_one`, built once per knowledge base:
    column-major matrices and, per topic, number and contrast group, the candidates that have it."""

    def __init__(self, c: Encoded) -> None:
        self.n = len(c)
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
                 c: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Topic Jaccard, conflict and contrast of one query against every candidate (zero wherever
        the two share no topic, numbers or contrast group, which the loops below skip)."""
        topic, conflicts, contrast = np.zeros(self.n), np.zeros(self.n), np.zeros(self.n)
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
            conflicts[j] = conflict(terms, c.terms[j], numbers, c.numbers[j])
        if contrasts:
            for j in self.with_contrasts:
                contrast[j] = conflict(contrasts, c.contrasts[j], frozenset(), frozenset())
        return topic, conflicts, contrast


def probability_linear(model: LogisticRegression, feats: np.ndarray) -> np.ndarray:
    """``model.predict_proba(feats)[:, 1]`` of a binary logistic regression, without sklearn's
    per-call input validation (a fifth of a search's time for one query)."""
    return expit(feats @ model.coef_[0] + model.intercept_[0])


def probability(model, feats: np.ndarray) -> np.ndarray:
    return model.predict_proba(feats.reshape(-1, len(FEATURES)))[:, 1].reshape(feats.shape[:-1])
