"""Sentence-encoder benchmark: public question-pair sets never trained on, beside a TF-IDF baseline
computed in the same run; sentiment and intent features against TF-IDF + LR; and speed on one core.

Run: .venv/bin/python bench/bench_encoder.py [--model DIR] [--json FILE] [--quick]

Every threshold is chosen on a calibration split held out from training (never on the test
split): LCQMC on 25 % of LCQMC dev, ATEC on 5 % of ATEC (see training/encoder/corpora.py). The
corpora must be present (``make encoder-corpora``; LCQMC and ATEC come from ../shared/data).
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.sparse import csr_matrix, hstack  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from brokercare.assistant.encoder import MODEL_DIR, SentenceEncoder, VectorIndex  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the held-out splits are defined once, in training/encoder/corpora.py
corpora = importlib.import_module("training.encoder.corpora")
EVAL = ROOT / "src/brokercare/assistant/data/eval"


# ------------------------------------------------------------------ pair decisions


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y))


def _f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = float(np.sum(pred & (y == 1)))
    return 2 * tp / (pred.sum() + y.sum()) if pred.sum() + y.sum() else 0.0


def _threshold(scores: np.ndarray, y: np.ndarray, measure) -> float:
    cands = np.unique(np.quantile(scores, np.linspace(0, 1, 801)))
    return float(cands[int(np.argmax([measure(scores >= t, y) for t in cands]))])


def _char_jaccard(a: list[str], b: list[str]) -> np.ndarray:
    out = []
    for x, z in zip(a, b, strict=True):
        sx, sz = set(corpora.norm(x)), set(corpora.norm(z))
        out.append(len(sx & sz) / max(1, len(sx | sz)))
    return np.asarray(out)


class PairScorers:
    """Scores of one pair set by each method: TF-IDF cosine, encoder cosine, the trained pair head,
    and a fusion of both with lexical overlap (logistic regression fitted on the calibration split)."""

    def __init__(self, enc: SentenceEncoder, tfidf: TfidfVectorizer) -> None:
        self.enc, self.tfidf = enc, tfidf

    def features(self, pairs: list) -> dict[str, np.ndarray]:
        a, b = [p.a for p in pairs], [p.b for p in pairs]
        ta, tb = self.tfidf.transform(a), self.tfidf.transform(b)
        u, v = self.enc.encode(a), self.enc.encode(b)
        return {
            "tfidf": np.asarray(ta.multiply(tb).sum(axis=1)).ravel(),
            "cosine": np.sum(u * v, axis=1),
            "head": self.enc.same_meaning_logit(u, v),
            "jaccard": _char_jaccard(a, b),
        }

    def evaluate(self, calib: list, test: list) -> dict:
        fc, ft = self.features(calib), self.features(test)
        yc, yt = np.array([p.label for p in calib]), np.array([p.label for p in test])
        cols = ["head", "cosine", "tfidf", "jaccard"]
        scale = StandardScaler().fit(np.column_stack([fc[c] for c in cols]))
        fusion = LogisticRegression(C=1.0).fit(scale.transform(np.column_stack([fc[c] for c in cols])), yc)
        for f in (fc, ft):
            f["fused"] = fusion.decision_function(scale.transform(np.column_stack([f[c] for c in cols])))
        out = {"n_test": len(test), "positive_share": round(float(yt.mean()), 3), "n_calibration": len(calib)}
        for name in ("tfidf", "cosine", "head", "fused"):
            t_acc = _threshold(fc[name], yc, _accuracy)
            t_f1 = _threshold(fc[name], yc, _f1)
            out[name] = {"accuracy": round(_accuracy(ft[name] >= t_acc, yt), 4),
                         "f1": round(_f1(ft[name] >= t_f1, yt), 4)}
        return out


def retrieval(pairs: list, embed) -> dict:
    """hit@1 and MRR of each positive pair's first sentence against every distinct second sentence
    of the set (as ``brokercare kb eval`` ranks)."""
    candidates = sorted({p.b for p in pairs})
    where = {c: i for i, c in enumerate(candidates)}
    positives = [p for p in pairs if p.label == 1]
    cand = embed(candidates)
    hits, rr = 0, 0.0
    for start in range(0, len(positives), 512):
        chunk = positives[start : start + 512]
        scores = embed([p.a for p in chunk]) @ cand.T
        scores = scores.toarray() if hasattr(scores, "toarray") else scores
        for row, p in zip(scores, chunk, strict=True):
            rank = 1 + int(np.sum(row > row[where[p.b]]))
            hits += rank == 1
            rr += 1 / rank
    return {"hit_at_1": round(hits / len(positives), 4), "mrr": round(rr / len(positives), 4),
            "queries": len(positives), "candidates": len(candidates)}


def pair_benchmarks(enc: SentenceEncoder, quick: bool) -> dict:
    results = {}
    for name, splits in (("lcqmc_test", corpora.lcqmc_splits()), ("atec_test_10pct", corpora.atec_splits())):
        tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
        tfidf.fit([s for p in splits["train"] for s in (p.a, p.b)])
        test = splits["test"][:2000] if quick else splits["test"]
        res = PairScorers(enc, tfidf).evaluate(splits["calib"], test)
        res["retrieval"] = {"tfidf": retrieval(test, tfidf.transform), "encoder": retrieval(test, enc.encode)}
        results[name] = res
    return results


def own_kb_benchmark(enc: SentenceEncoder) -> dict:
    """The assistant's own KB pair set: retrieval only (no own-domain calibration split exists)."""
    with open(EVAL / "kb_pairs.csv", encoding="utf-8", newline="") as f:
        pairs = [corpora.Pair(r["sentence1"], r["sentence2"], int(r["label"]), "eval") for r in csv.DictReader(f)]
    own = corpora.own_pairs()
    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    tfidf.fit([s for p in own for s in (p.a, p.b)])
    return {"tfidf": retrieval(pairs, tfidf.transform), "encoder": retrieval(pairs, enc.encode)}


# ------------------------------------------------------------------ classification features


def classification(enc: SentenceEncoder, train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict:
    """Macro-F1 of logistic regression on TF-IDF, on encoder vectors, and on both, same split."""
    xtr, ytr = [t for t, _ in train], [y for _, y in train]
    xte, yte = [t for t, _ in test], [y for _, y in test]
    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2).fit(xtr)
    etr, ete = enc.encode(xtr), enc.encode(xte)
    out = {"n_train": len(train), "n_test": len(test)}
    options = {"tfidf": (tfidf.transform(xtr), tfidf.transform(xte)), "encoder": (etr, ete)}
    options["tfidf+encoder"] = (hstack([options["tfidf"][0], csr_matrix(etr)]).tocsr(),
                                hstack([options["tfidf"][1], csr_matrix(ete)]).tocsr())
    for name, (a, b) in options.items():
        model = LogisticRegression(C=10.0 if name == "encoder" else 1.0, max_iter=2000).fit(a, ytr)
        out[name] = round(float(f1_score(yte, model.predict(b), average="macro")), 4)
    return out


def classification_benchmarks(enc: SentenceEncoder) -> dict:
    senti = corpora.sentiment_splits()
    res = {"waimai_10k_sentiment": classification(enc, senti["train"], senti["test"])}
    for task in ("intent", "emotion"):
        res[f"own_{task}"] = classification(enc, corpora.read_labelled(f"{task}_train.csv"),
                                            corpora.read_labelled(f"eval/{task}_test.csv"))
    return res


# ------------------------------------------------------------------ speed


def _percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3),
            "per_s": round(1000 / float(a.mean()))}


def _timed(fn, items) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for item in items:
        s, c = time.perf_counter(), time.thread_time()
        fn(item)
        cpu.append((time.thread_time() - c) * 1000)
        wall.append((time.perf_counter() - s) * 1000)
    return cpu, wall


def speed(enc: SentenceEncoder, n: int) -> dict:
    with open(EVAL / "intent_test.csv", encoding="utf-8", newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    messages = (texts * (n // len(texts) + 1))[:n]
    enc.encode(messages[:50])
    out = {}
    cpu, wall = _timed(lambda m: enc.encode([m]), messages)
    out["encode_one"] = {"cpu": _percentiles(cpu), "wall": _percentiles(wall)}
    batches = [messages[i : i + 32] for i in range(0, len(messages) - 31, 32)]
    cpu, wall = _timed(enc.encode, batches)
    out["encode_batch_32"] = {"cpu": _percentiles(cpu), "wall": _percentiles(wall),
                              "messages_per_s_cpu": round(32 * 1000 / float(np.mean(cpu)))}
    out["analyze_with_encoder"] = _analyze_with_encoder(enc, messages)
    out["kb_search_10k"] = _kb_search(enc, messages)
    return out


def _analyze_with_encoder(enc: SentenceEncoder, messages: list[str]) -> dict:
    """The assistant's analyze() followed by encoding the message, as phase 2 wires it."""
    os.environ.setdefault("BROKERCARE_DATA_DIR", tempfile.mkdtemp(prefix="bench-enc-"))
    from brokercare.assistant import registry, service  # needs the data dir set above

    registry.load("intent")
    registry.load("emotion")
    service.analyze_many(messages[:50])
    alone, _ = _timed(service.analyze, messages)
    both, wall = _timed(lambda m: (service.analyze(m), enc.encode([m])), messages)
    return {"analyze_alone_cpu": _percentiles(alone), "analyze_plus_encode_cpu": _percentiles(both),
            "analyze_plus_encode_wall": _percentiles(wall)}


def _kb_search(enc: SentenceEncoder, messages: list[str]) -> dict:
    """Exact top-5 over 10,000 entries (real ATEC questions stand in for FAQ entries)."""
    entries = sorted({s for p in corpora.atec_splits()["train"] for s in (p.a, p.b)})[:10_000]
    index = VectorIndex(enc.encode(entries, batch_size=256))
    queries = enc.encode(messages[:2000])
    cpu, wall = _timed(lambda q: index.top_k(q, 5), queries)
    return {"entries": len(index), "cpu": _percentiles(cpu), "wall": _percentiles(wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="2,000 test pairs per set (a smoke run)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    enc = SentenceEncoder(args.model)
    print(f"encoder loaded in {(time.perf_counter() - t0) * 1000:.0f} ms from {args.model}")
    results = {"pairs": pair_benchmarks(enc, args.quick), "own_kb_pairs": own_kb_benchmark(enc)}
    print(json.dumps(results, ensure_ascii=False, indent=1), flush=True)
    results["classification"] = classification_benchmarks(enc)
    print(json.dumps(results["classification"], ensure_ascii=False, indent=1), flush=True)
    results["speed"] = speed(enc, args.messages)
    print(json.dumps(results["speed"], ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", "utf-8")


if __name__ == "__main__":
    main()
