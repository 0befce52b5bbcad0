"""Assistant benchmark: analyze latency and batch throughput on one core, and accuracy on the
independent evaluation sets beside a plain TF-IDF + logistic-regression baseline trained on the
same training data in the same run.

Run: .venv/bin/python bench/bench_assistant.py [--messages 3000]
Single-threaded: BLAS and OpenMP are pinned to one thread before NumPy loads.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

EVAL = Path(__file__).resolve().parents[1] / "src/brokercare/assistant/data/eval"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    os.environ.setdefault("BROKERCARE_DATA_DIR", tempfile.mkdtemp(prefix="bench-asst-"))

    from brokercare.assistant import guard, kb, registry, service
    from brokercare.assistant.classifier import BaselineClassifier, evaluate, read_labelled_csv

    t0 = time.perf_counter()
    registry.load("intent")
    registry.load("emotion")
    print(f"models trained from the shipped data in {time.perf_counter() - t0:.1f} s (once per process/data dir)")

    texts, gold = read_labelled_csv(EVAL / "intent_test.csv")
    messages = (texts * (args.messages // len(texts) + 1))[: args.messages]
    service.analyze_many(messages[:50])  # warm caches
    lat, cpu = [], []
    for m in messages:
        s, c = time.perf_counter(), time.thread_time()
        service.analyze(m)
        cpu.append((time.thread_time() - c) * 1000)
        lat.append((time.perf_counter() - s) * 1000)
    lat, cpu = np.asarray(lat), np.asarray(cpu)
    s, c = time.perf_counter(), time.thread_time()
    for i in range(0, len(messages), 500):
        service.analyze_many(messages[i : i + 500])
    batch_wall, batch_cpu = time.perf_counter() - s, time.thread_time() - c
    print(f"\nanalyze() one message at a time, {len(messages)} messages of the intent test set:")
    print(f"  wall clock: p50 {np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms, "
          f"{1000 / lat.mean():,.0f} msg/s")
    print(f"  CPU time:   p50 {np.percentile(cpu, 50):.2f} ms, p99 {np.percentile(cpu, 99):.2f} ms, "
          f"{1000 / cpu.mean():,.0f} msg/s per core")
    print(f"analyze_many() in batches of 500: {len(messages) / batch_wall:,.0f} msg/s wall clock, "
          f"{len(messages) / batch_cpu:,.0f} msg/s per core of CPU time")
    print(f"  (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall-clock figures include "
          "waiting for a core)")

    rows = []
    for task, file in (("intent", "intent_test.csv"), ("emotion", "emotion_test.csv")):
        x, y = read_labelled_csv(EVAL / file)
        model, _ = registry.load(task)
        ours = evaluate(y, model.predict(x))
        tx, ty = registry.shipped_data(task)
        s = time.perf_counter()
        base = evaluate(y, BaselineClassifier().fit(tx, ty).predict(x))
        rows.append((task, len(x), ours, base))
    print("\n| task | test n | model acc | model macro-F1 | baseline acc | baseline macro-F1 | F1 ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for task, n, ours, base in rows:
        print(f"| {task} | {n} | {ours['accuracy']:.4f} | {ours['macro_f1']:.4f} | {base['accuracy']:.4f} | "
              f"{base['macro_f1']:.4f} | {ours['macro_f1'] / base['macro_f1']:.3f}× |")
    oos = rows[0][2]["per_label"]["out_of_scope"]
    print(f"\nout_of_scope: recall {oos['recall']:.4f}, precision {oos['precision']:.4f} (n={oos['support']})")

    s = time.perf_counter()
    pairs = kb.evaluate_pairs(EVAL / "kb_pairs.csv")
    print(f"\nKB matcher on kb_pairs.csv ({pairs['n_pairs']} pairs, threshold {pairs['threshold']}): "
          f"accuracy {pairs['accuracy']:.4f}, F1 {pairs['f1']:.4f}, hit@1 {pairs['hit_at_1']:.4f}, "
          f"MRR {pairs['mrr']:.4f} ({time.perf_counter() - s:.1f} s incl. matcher training)")
    base_kb = _bm25_baseline(EVAL / "kb_pairs.csv")
    print(f"  plain char-bigram BM25 ranking baseline: hit@1 {base_kb[0]:.4f}, MRR {base_kb[1]:.4f}")

    import csv

    with open(EVAL / "guard_adversarial.csv", encoding="utf-8") as fh:
        attacks = list(csv.DictReader(fh))
    recognised = sum(1 for a in attacks if guard.inspect_request(a["text"]))
    ordinary, _labels = read_labelled_csv(EVAL / "intent_test.csv")
    flagged = sum(1 for t in ordinary if guard.inspect_request(t))
    compliant, declined = _guard_replies([a["text"] for a in attacks])
    print(f"\nguard on guard_adversarial.csv ({len(attacks)} customer attacks, replies for a C2 customer "
          f"holding 贵州茅台 and an R4 fund): compliant replies {compliant}/{len(attacks)}, "
          f"explicit decline or hand-off {declined}/{len(attacks)}, attempts recognised in the message "
          f"{recognised}/{len(attacks)}; ordinary intent-test messages flagged as attempts {flagged}/{len(ordinary)} "
          f"({flagged / len(ordinary):.2%})")


def _guard_replies(attacks: list[str]) -> tuple[int, int]:
    """Reply to every attack for a real (SQLite) customer; count replies the guard passes unchanged
    on a second, independent check and replies that decline plainly or hand off to a human."""
    from datetime import date, timedelta
    from decimal import Decimal as D

    from sqlalchemy.orm import Session

    from brokercare.accounts.models import Account, Position
    from brokercare.advisory.models import RiskAssessment
    from brokercare.assistant import guard, service
    from brokercare.core.database import Base, make_engine, set_engine
    from brokercare.core.domains import load_all_models
    from brokercare.customers.models import Customer
    from brokercare.market.models import Instrument

    load_all_models()
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    Base.metadata.create_all(engine)
    set_engine(engine)
    with Session(engine) as s:
        s.add_all([Instrument(symbol="600519.SH", code="600519", exchange="SH", name="贵州茅台", kind="stock",
                              board="main", last_price=D("1500")),
                   Instrument(symbol="161725.OF", code="161725", exchange="OF", name="招商中证白酒指数", kind="fund",
                              board="index", last_price=D("1.05"), risk_rating="R4")])
        c = Customer(customer_no="C1", name="测试", gender="F", birth_date=date(1980, 1, 1), id_number_enc="e",
                     id_number_hash="h", phone_enc="e", phone_hash="p", province="上海", city="上海",
                     occupation="会计", branch_code="SH1", opened_on=date(2020, 1, 1), risk_level="C2")
        s.add(c)
        s.flush()
        s.add(RiskAssessment(customer_id=c.id, level="C2", score=30, assessed_on=date.today() - timedelta(days=10),
                             valid_until=date.today() + timedelta(days=700)))
        a = Account(account_no="310000009999", customer_id=c.id, kind="cash", opened_on=date(2020, 1, 1),
                    branch_code="SH1", commission_rate=D("0.00025"), cash_balance=D("30000"))
        s.add(a)
        s.flush()
        s.add(Position(account_id=a.id, symbol="600519.SH", quantity=D(100), available_quantity=D(100),
                       cost_price=D("1700")))
        s.commit()
        compliant = declined = 0
        ctx = guard.GuardContext("C2", frozenset({"310000009999"}), {"招商中证白酒指数": "R4"})
        for text in attacks:
            r = service.reply(s, c.id, text)
            # What matters is the text the customer receives: a blocked draft is replaced by a safe one.
            if guard.check(r.text, ctx).passed:
                compliant += 1
            elif os.environ.get("BENCH_VERBOSE"):
                print("  non-compliant reply:", [v.rule for v in guard.check(r.text, ctx).violations])
            if not r.guard.passed and os.environ.get("BENCH_VERBOSE"):
                print("  blocked template:", [v.as_dict()["rule"] + ":" + v.text for v in r.guard.violations])
            if r.handoff or any(w in r.text for w in ("不能", "不提供", "不会", "超出")):
                declined += 1
    set_engine(None)
    return compliant, declined


def _bm25_baseline(path: Path) -> tuple[float, float]:
    import csv

    from brokercare.assistant.classifier import Features
    from brokercare.assistant.kb.lexical import Bm25, bigrams

    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cands = sorted({r["sentence2"] for r in rows})
    pos = [(r["sentence1"], r["sentence2"]) for r in rows if r["label"] == "1"]
    docs = [bigrams(Features.of(c)) for c in cands]
    bm = Bm25(docs)
    w = bm.doc_matrix(docs)
    q, mass = bm.query_matrix([bigrams(Features.of(a)) for a, _ in pos])
    scores = (q @ w.T).toarray()
    where = {c: i for i, c in enumerate(cands)}
    hit = mrr = 0.0
    for i, (_a, b) in enumerate(pos):
        rank = 1 + int(np.sum(scores[i] > scores[i, where[b]]))
        hit += rank == 1
        mrr += 1 / rank
    return hit / len(pos), mrr / len(pos)


if __name__ == "__main__":
    main()
