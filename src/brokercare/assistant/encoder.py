"""The assistant's Chinese sentence encoder: text in, a unit vector out, same meaning close together.

Trained here on public question-pair corpora of real users (``training/encoder/``; data, recipe and
licences in ``data/encoder/SOURCE.md``) and shipped as an ONNX graph, so inference needs only
onnxruntime. A text becomes a sequence of *units* (one Chinese character, one digit, or a run of
Latin letters) plus the bigram of each unit and the next; a small convolutional network over their
embeddings is pooled into a 256-dimensional vector with unit length, so a dot product is a cosine.

Use :func:`get_encoder` (loaded once per process; safe to call from several threads)::

    enc = get_encoder()
    vecs = enc.encode(["花呗怎么还款", "蚂蚁花呗如何还钱"])   # float32 (2, 256), rows of norm 1
    enc.same_meaning_probability(vecs[:1], vecs[1:])         # trained pair head, shape (1,)
    VectorIndex(kb_vectors).top_k(vecs[0], k=5)              # exact search, (indices, scores)
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

#: Where the shipped weights, vocabularies and metrics live.
MODEL_DIR = Path(str(resources.files("brokercare.assistant"))) / "data" / "encoder"
#: Longer messages are cut: the question is nearly always in the first 64 units.
MAX_UNITS = 64
PAD, UNK = 0, 1
#: How many single texts' vectors are kept: one message is encoded by the KB search and reused by
#: the hand-off summary's similar-case search of the same batch. Kept small on purpose, so it
#: shares work within a batch rather than answering repeated texts (which would also flatter the
#: service-hub benchmark, whose messages are drawn from a fixed test set).
RECENT = 64
_UNITS = re.compile(r"[a-z]+|[0-9]|[^\W\d_a-z]", re.UNICODE)


def normalise(text: str) -> str:
    """Fold width and case (ＡＰＰ → app) so the vocabulary sees one form of each character."""
    return unicodedata.normalize("NFKC", text).lower()


def units(text: str) -> list[str]:
    """Chinese characters, digits one by one, Latin letters as one word (etf, rzrq); no punctuation."""
    return [u[:12] for u in _UNITS.findall(normalise(text))][:MAX_UNITS]


@dataclass(frozen=True)
class Tokenizer:
    """Maps units and unit bigrams to the embedding rows the model was trained with."""

    chars: dict[str, int]
    bigrams: dict[str, int]

    @classmethod
    def load(cls, folder: Path) -> Tokenizer:
        return cls(_vocabulary(folder / "chars.txt", first=2), _vocabulary(folder / "bigrams.txt", first=1))

    def ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Two int64 arrays (n, longest): unit ids (0 pads) and ids of each unit's bigram with the next."""
        seqs = [units(t) or ["?"] for t in texts]
        width = max(len(s) for s in seqs)
        chars = np.zeros((len(seqs), width), dtype=np.int64)
        bigrams = np.zeros((len(seqs), width), dtype=np.int64)
        get_char, get_bigram = self.chars.get, self.bigrams.get
        for i, seq in enumerate(seqs):
            chars[i, : len(seq)] = [get_char(u, UNK) for u in seq]
            bigrams[i, : len(seq) - 1] = [get_bigram(f"{a} {b}", PAD) for a, b in zip(seq, seq[1:], strict=False)]
        return chars, bigrams


def _vocabulary(path: Path, *, first: int) -> dict[str, int]:
    lines = path.read_text("utf-8").split("\n")
    return {line: first + i for i, line in enumerate(lines) if line}


class SentenceEncoder:
    """The ONNX encoder plus its trained same-meaning head; stateless after loading, so thread-safe."""

    def __init__(self, folder: Path = MODEL_DIR, *, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        graph = (folder / "encoder.onnx").read_bytes()
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.load(folder)
        head = np.load(folder / "head.npz")
        self._head = {k: head[k].astype(np.float32) for k in head.files}
        self.metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        # Which weights these are: whatever was fitted on or stored from this encoder's vectors (the
        # knowledge base's fused matcher, a resolved case's vector) is rebuilt when they change.
        self.fingerprint = f"encoder-{self.dim}-{hashlib.sha256(graph).hexdigest()[:16]}"
        # The last single texts encoded: a message's vector is computed once even when the knowledge
        # base and then the hand-off summary's similar-case search each ask for it.
        self._recent: dict[str, np.ndarray] = {}
        self._recent_lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """float32 array (len(texts), dim), each row of unit length; empty input gives (0, dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:
            return self._one(texts[0])
        if len(texts) <= batch_size:
            return self._run(texts)
        # Similar lengths together: padding to the longest message of a batch is wasted work.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._run([texts[i] for i in rows])
        return out

    def _one(self, text: str) -> np.ndarray:
        """One text's row, from the recent texts' vectors when it was encoded a moment ago (a copy:
        callers may change what they get)."""
        hit = self._recent.get(text)
        if hit is None:
            hit = self._run([text])
            with self._recent_lock:
                if len(self._recent) >= RECENT:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[text] = hit
        return hit.copy()

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        chars, bigrams = self.tokenizer.ids(texts)
        return self.session.run(None, {"chars": chars, "bigrams": bigrams})[0]

    def same_meaning_logit(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The trained pair head over row-aligned vectors: [a*b, |a-b|, cos] → MLP → logit (n,)."""
        a, b = np.atleast_2d(a), np.atleast_2d(b)
        h = self._head
        x = np.concatenate([a * b, np.abs(a - b), np.sum(a * b, axis=1, keepdims=True)], axis=1)
        hidden = np.maximum(x @ h["w1"].T + h["b1"], 0.0)
        return (hidden @ h["w2"].T + h["b2"]).ravel()

    def same_meaning_probability(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.same_meaning_logit(a, b)))


class VectorIndex:
    """Exact nearest neighbours by dot product over unit vectors (a cosine), for KB-sized sets.

    10,000 rows × 256 dimensions is one 2.6-million multiply-add matrix-vector product; the bench
    (``bench/bench_encoder.py``) measures it well inside the 3 ms budget, so no ANN index is needed.
    """

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.vectors)

    def top_k(self, query: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Row indices and scores of the k best matches, best first."""
        scores = self.vectors @ np.asarray(query, dtype=np.float32).ravel()
        k = min(k, len(scores))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return best, scores[best]


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load() -> SentenceEncoder:
    with _lock:
        return SentenceEncoder()


def get_encoder() -> SentenceEncoder:
    """The process-wide encoder, loaded on first use (call it at server start to pay that early)."""
    return _load()
