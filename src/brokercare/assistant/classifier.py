"""The text classifier behind intents and emotions, its TF-IDF + LR baseline, and the metrics.

The model is a linear classifier over one sparse feature space built from three views:

- word unigrams and bigrams from the finance-aware jieba tokenizer, on text whose slang, typos and
  homophones (两容, 逆回够, nhg) were normalised to canonical terms;
- finance concept tokens (the topic of every lexicon term found: ``§margin``, ``§ipo`` ...), which
  carry the meaning of a sentence whose exact words were never seen in training;
- character 1–4-grams, which survive segmentation errors and unseen names;

classified by a class-balanced linear SVM with temperature-calibrated probabilities. It is linear,
so a message is classified in microseconds once vectorised.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jieba
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from brokercare.assistant.lexicon import get_lexicon
from brokercare.core.errors import ValidationFailed


def word_features(normalised: str) -> list[str]:
    """Words, word bigrams and concept tokens of already normalised text."""
    lex = get_lexicon()
    words = lex.tokenize(normalised)
    feats = list(words)
    feats += [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    feats += [f"§{t}" for t in set(lex.topics(normalised))]
    return feats


def char_features(normalised: str) -> list[str]:
    s = normalised.replace(" ", "")
    out = []
    for n in (1, 2, 3, 4):
        out += [s[i : i + n] for i in range(len(s) - n + 1)]
    return out


def baseline_words(text: str) -> list[str]:
    """Plain jieba words (global dictionary, no finance terms): what the baseline sees."""
    return [w for w in jieba.lcut(text) if w.strip()]


@dataclass
class Prediction:
    labels: list[str]
    probabilities: np.ndarray  # shape (n, len(labels))

    def top(self, i: int, k: int = 3) -> list[tuple[str, float]]:
        row = self.probabilities[i]
        idx = np.argsort(-row)[:k]
        return [(self.labels[j], float(row[j])) for j in idx]


@dataclass
class Features:
    """One message's normalised text and its two views, computed once and shared by every model."""

    normalised: str
    words: list[str]
    chars: list[str]
    #: Margins already computed for this message, by the classifier's weight matrix (the knowledge
    #: base reads the intent model's margins that the analysis computed a moment before).
    margins_by: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, text: str) -> Features:
        """The features of ``text``. A message is read by the intent, emotion, guard and
        knowledge-base models in turn, so the last few are kept (per lexicon: a reloaded lexicon
        segments differently); callers treat the lists as read-only."""
        global _featurised_with
        lexicon = get_lexicon()
        if lexicon is not _featurised_with:  # reloaded: what was kept was cut by the old one
            _featurise.cache_clear()
            _featurised_with = lexicon
        return _featurise(text)


_featurised_with = None


@lru_cache(maxsize=512)  # a batch of messages and their replies
def _featurise(text: str) -> Features:
    normalised = get_lexicon().normalise(text)
    return Features(normalised, word_features(normalised), char_features(normalised))


class _View:
    """A fitted TF-IDF view reduced to what inference needs: vocabulary and idf (sublinear tf, l2)."""

    def __init__(self, vectorizer: TfidfVectorizer, weight: float, offset: int) -> None:
        self.vocab: dict[str, int] = {k: int(v) + offset for k, v in vectorizer.vocabulary_.items()}
        self.idf = {}
        idf = vectorizer.idf_
        for term, col in vectorizer.vocabulary_.items():
            self.idf[term] = float(idf[col])
        self.weight = weight

    def row(self, feats: list[str]) -> tuple[list[int], list[float]]:
        vocab, idf = self.vocab, self.idf
        idx, vals = [], []
        for term, n in Counter(feats).items():
            col = vocab.get(term)
            if col is not None:
                idx.append(col)
                vals.append((1.0 + math.log(n)) * idf[term])
        if not idx:
            return [], []
        scale = self.weight / math.hypot(*vals)
        return idx, [v * scale for v in vals]


class TextClassifier:
    """Fit on (text, label) pairs; predict calibrated label probabilities.

    A class-balanced linear SVM gives the best macro-F1 on this kind of short text (cross-validated
    against logistic regression, ridge, SGD and naive-Bayes ensembles on the shipped data); its
    margins become probabilities through a softmax whose temperature is fitted on out-of-fold
    margins, so a confidence means something to routing.

    Training uses scikit-learn; the fitted model keeps only vocabularies, idf and the weight matrix,
    and inference computes a message's margins directly (a few microseconds), which is what makes
    the assistant's per-message latency small.
    """

    def __init__(self, *, c: float = 0.5, char_weight: float = 0.8, seed: int = 7) -> None:
        self.c, self.char_weight, self.seed = c, char_weight, seed
        self.labels: list[str] = []
        self.temperature = 1.0

    def _vectorizers(self):
        return (TfidfVectorizer(analyzer=_identity, sublinear_tf=True),
                TfidfVectorizer(analyzer=_identity, sublinear_tf=True, max_features=60000))

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.c, class_weight="balanced", random_state=self.seed)

    def fit(self, texts: list[str], labels: list[str], *, features: list[Features] | None = None,
            temperature: float | None = None) -> TextClassifier:
        """Train; ``temperature`` fixes the softmax temperature instead of fitting it (fold models that
        must produce probabilities on the same scale as the full model)."""
        if len(set(labels)) < 2:
            raise ValidationFailed("training data needs at least two different labels")
        feats = features or [Features.of(t) for t in texts]
        words, chars = self._vectorizers()
        w = words.fit_transform([f.words for f in feats])
        c = chars.fit_transform([f.chars for f in feats])
        x = sparse.hstack([w, c * self.char_weight], format="csr")
        y = np.asarray(labels)
        model = self._svm().fit(x, y)
        self.labels = [str(lab) for lab in model.classes_]
        self.temperature = temperature if temperature is not None else self._fit_temperature(x, y)
        coef = model.coef_ if len(self.labels) > 2 else np.vstack([-model.coef_[0], model.coef_[0]])
        bias = model.intercept_ if len(self.labels) > 2 else np.array([-model.intercept_[0], model.intercept_[0]])
        self.weights = np.ascontiguousarray(coef.T, dtype=np.float32)  # (features, classes)
        self.bias = bias.astype(np.float32)
        self.word_view = _View(words, 1.0, 0)
        self.char_view = _View(chars, self.char_weight, w.shape[1])
        return self

    def _fit_temperature(self, x, y: np.ndarray) -> float:
        """Softmax temperature minimising the log-loss of out-of-fold SVM margins."""
        smallest = min(Counter(y.tolist()).values())
        folds = min(4, smallest)
        if folds < 2:
            return 0.2
        margins = np.zeros((len(y), len(self.labels)))
        index = {lab: i for i, lab in enumerate(self.labels)}
        split = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
        for train, test in split.split(np.zeros(len(y)), y):
            m = self._svm().fit(x[train], y[train])
            cols = [index[str(c)] for c in m.classes_]
            d = m.decision_function(x[test])
            margins[np.ix_(test, cols)] = d if d.ndim == 2 else np.c_[-d, d]
        gold = np.array([index[str(v)] for v in y])
        best, best_loss = 1.0, np.inf
        for t in np.geomspace(0.02, 2.0, 40):
            p = _softmax(margins / t)
            loss = -np.mean(np.log(p[np.arange(len(gold)), gold] + 1e-12))
            if loss < best_loss:
                best, best_loss = float(t), loss
        return best

    def margins(self, feats: list[Features]) -> np.ndarray:
        out = np.empty((len(feats), len(self.bias)), dtype=np.float32)
        weights = self.weights
        for i, f in enumerate(feats):
            kept = f.margins_by.get(id(weights))
            if kept is None or kept[0] is not weights:  # the id of a freed matrix may come back
                kept = (weights, self._margins_of(f))
                f.margins_by[id(weights)] = kept
            out[i] = kept[1]
        return out

    def _margins_of(self, f: Features) -> np.ndarray:
        wi, wv = self.word_view.row(f.words)
        ci, cv = self.char_view.row(f.chars)
        idx = wi + ci
        if not idx:
            return self.bias.copy()
        return self.bias + np.asarray(wv + cv, dtype=np.float32) @ self.weights[idx]

    def predict_proba(self, texts: list[str], *, features: list[Features] | None = None) -> Prediction:
        feats = features or [Features.of(t) for t in texts]
        return Prediction(self.labels, _softmax(self.margins(feats).astype(np.float64) / self.temperature))

    def predict(self, texts: list[str]) -> list[str]:
        pred = self.predict_proba(texts)
        return [pred.labels[j] for j in pred.probabilities.argmax(axis=1)]


def _identity(feats: list[str]) -> list[str]:
    return feats


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class BaselineClassifier:
    """The plain baseline the benchmark compares against: TF-IDF over jieba words + LR."""

    def fit(self, texts: list[str], labels: list[str]) -> BaselineClassifier:
        self.vec = TfidfVectorizer(analyzer=baseline_words)
        self.lr = LogisticRegression(max_iter=2000)
        self.lr.fit(self.vec.fit_transform(texts), labels)
        return self

    def predict(self, texts: list[str]) -> list[str]:
        return list(self.lr.predict(self.vec.transform(texts)))


# -- data -------------------------------------------------------------------------------------------
def read_labelled_csv(source: str | Path, *, columns: tuple[str, str] = ("text", "label")) -> tuple[list[str], list[str]]:
    """Rows of a ``text,label`` CSV (UTF-8, BOM tolerated); a clear error for a wrong file."""
    path = Path(source)
    if not path.exists():
        raise ValidationFailed(f"file not found: {path}")
    raw = path.read_text("utf-8-sig")
    return parse_labelled_csv(raw, columns=columns, name=str(path))


def parse_labelled_csv(raw: str, *, columns: tuple[str, str] = ("text", "label"), name: str = "data") -> tuple[list[str], list[str]]:
    reader = csv.DictReader(io.StringIO(raw))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(
            f"{name}: missing column(s) {', '.join(missing)}; expected a CSV header {','.join(columns)}"
        )
    texts, labels = [], []
    for i, row in enumerate(reader, start=2):
        text, label = (row.get(columns[0]) or "").strip(), (row.get(columns[1]) or "").strip()
        if not text and not label:
            continue
        if not text or not label:
            raise ValidationFailed(f"{name}, line {i}: both {columns[0]} and {columns[1]} are required")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise ValidationFailed(f"{name}: no labelled rows")
    return texts, labels


def fingerprint(texts: list[str], labels: list[str]) -> str:
    h = hashlib.sha256()
    for t, lab in zip(texts, labels, strict=True):
        h.update(t.encode())
        h.update(b"\x1f")
        h.update(lab.encode())
        h.update(b"\x1e")
    return h.hexdigest()[:16]


# -- metrics ----------------------------------------------------------------------------------------
def evaluate(gold: list[str], predicted: list[str], *, worst: int = 10) -> dict:
    """Accuracy, macro-F1, per-label precision/recall/F1/support and the most frequent confusions."""
    labels = sorted(set(gold) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    gold_labels = sorted(set(gold))
    per_label = {
        lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
              "f1": round(float(f[i]), 4), "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    confusions = Counter((g, q) for g, q in zip(gold, predicted, strict=True) if g != q)
    return {
        "n": len(gold),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        # Macro over the labels present in the gold data: a label the test set never uses must not
        # drag the score down merely because the model once predicted it.
        "macro_f1": round(float(f1_score(gold, predicted, labels=gold_labels, average="macro", zero_division=0)), 4),
        "per_label": per_label,
        "confusions": [
            {"gold": g, "predicted": q, "count": n} for (g, q), n in confusions.most_common(worst)
        ],
    }
