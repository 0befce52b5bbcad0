"""The hand-off summary's similar-case search: its threshold on the encoder's calibration splits,
and its CPU per hand-off over a full index (20,000 resolved cases) on one core.

Run: .venv/bin/python bench/bench_similar_cases.py [--cases 20000] [--calls 300] [--no-calibration]

Threshold: for cosine cuts 0.80–0.92, precision and recall of "same meaning" on ATEC 5 % and LCQMC
dev 25 % (calibration splits held out from the encoder's training; never the test splits) and the
share of random pairs passing. CPU: ``time.process_time`` over ``--calls`` hand-offs, each with a
message never seen (one encode) and with a message the knowledge base just encoded (no encode),
plus the one-off full load of the index and a refresh after one case changed.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brokercare.assistant import service as assistant_service  # noqa: E402
from brokercare.assistant.encoder import get_encoder  # noqa: E402
from brokercare.core.database import Base, make_engine  # noqa: E402
from brokercare.core.domains import load_all_models  # noqa: E402
from brokercare.service import assistant as hub_assistant  # noqa: E402
from brokercare.service import cases  # noqa: E402
from brokercare.service.models import CaseVector  # noqa: E402

PROBLEMS = {  # category → what customers write (the cases are variations of these)
    "margin_ratio": ["维持担保比例跌到{n}%了会怎么样", "两融账户担保比例低于{n}%收到追保通知"],
    "margin_liquidation": ["担保比例跌破{n}%要补多少保证金才不会被强平", "被通知追加担保物，不补会平仓吗，比例{n}%"],
    "margin_cost": ["融资利率{n}是年化吗", "融资负债{n}万怎么还款"],
    "password_reset": ["忘记交易密码了怎么重置", "资金密码输错{n}次被锁了"],
    "transfer_status": ["银证转账{n}万还没到账", "转出{n}元显示失败"],
    "order_status": ["委托了{n}股一直没成交", "撤单失败是什么原因，挂了{n}股"],
    "fund_trade": ["赎回基金{n}天了钱还没到", "申购费率是{n}%吗"],
    "complaint": ["客服电话打了{n}次没人接，我要投诉", "理财经理误导我买了亏{n}%的产品"],
}


def calibration() -> None:
    corpora = importlib.import_module("training.encoder.corpora")
    enc = get_encoder()
    print("threshold  " + "  ".join(f"{n:>34}" for n in ("ATEC calib: prec / rec / random", "LCQMC calib")))
    sets = []
    for pairs in (corpora.atec_splits()["calib"], corpora.lcqmc_splits()["calib"]):
        a, b = enc.encode([p.a for p in pairs]), enc.encode([p.b for p in pairs])
        y = np.array([p.label for p in pairs]) == 1
        rand = (a * b[np.random.default_rng(0).permutation(len(b))]).sum(1)
        sets.append(((a * b).sum(1), y, rand))
    for t in np.arange(0.80, 0.925, 0.01):
        cells = []
        for cos, y, rand in sets:
            pred = cos >= t
            cells.append(f"{(pred & y).sum() / max(pred.sum(), 1):.3f} / {(pred & y).sum() / y.sum():.3f} / "
                         f"{(rand >= t).mean():.4f}")
        print(f"  {t:.2f}     " + "  ".join(f"{c:>34}" for c in cells))


def cpu(n_cases: int, calls: int) -> None:
    load_all_models()
    hub_assistant.wire(assistant_service)
    folder = tempfile.mkdtemp()
    engine = make_engine(f"sqlite:///{folder}/cases.db")
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in (
        "service_contacts", "service_tickets", "service_case_vectors")])
    model = assistant_service.embedding_model()
    rng = np.random.default_rng(7)
    cats = list(PROBLEMS)
    texts, rows = [], []
    now = datetime.now(UTC)
    for i in range(n_cases):
        cat = cats[i % len(cats)]
        texts.append(PROBLEMS[cat][int(rng.integers(2))].format(n=int(rng.integers(100, 160))) + f"（{i}）")
    t0 = time.perf_counter()
    vectors = assistant_service.embed(texts).astype("<f2")
    print(f"embedding {n_cases} cases: {time.perf_counter() - t0:.1f} s")
    for i, text in enumerate(texts):
        rows.append({"ticket_id": i + 1, "contact_id": i + 1, "ticket_no": f"TK20261201{i + 1:06d}",
                     "category": cats[i % len(cats)], "subject": text, "resolution": "已处理。",
                     "vector": vectors[i].tobytes(), "encoder": model, "active": True,
                     "resolved_at": now - timedelta(minutes=i), "indexed_at": now - timedelta(minutes=i)})
    with engine.connect() as conn:  # the cases alone: no tickets behind them in this bench
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(insert(CaseVector), rows)
        conn.commit()
    group = [c for c in cats if cases.group_of(c) == "margin"]
    print(f"{n_cases} cases, {sum(1 for i in range(n_cases) if cats[i % len(cats)] in group)} in the margin group")
    with Session(engine) as s:
        t0 = time.process_time()
        index = cases.case_index(s, model)
        index.group("margin")
        print(f"full load of the index + the margin group's matrix: {(time.process_time() - t0) * 1000:.0f} ms CPU")
        analysis = assistant_service.analyze("融资融券维持担保比例低于130%被要求追加保证金")
        fresh = [f"融资融券维持担保比例低于{130 + i % 20}%被要求追加保证金，第{i}次" for i in range(calls)]
        for label, queries in (("new message (one encode)", fresh),
                               ("message the KB search just encoded", [analysis.text] * calls)):
            get_encoder().encode([queries[0]])
            found = 0
            t0 = time.process_time()
            for q in queries:
                found += len(cases.similar_cases(s, replace(analysis, text=q), q))
            ms = (time.process_time() - t0) / calls * 1000
            print(f"per hand-off, {label}: {ms:.3f} ms CPU ({found / calls:.1f} cases found)")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.execute(insert(CaseVector), [{**rows[0], "ticket_id": n_cases + 1, "indexed_at": datetime.now(UTC)}])
            conn.commit()
        cases.cases_changed()
        t0 = time.process_time()
        cases.case_index(s, model).group("margin")
        print(f"refresh after one new case (+ the margin matrix rebuilt): {(time.process_time() - t0) * 1000:.1f} ms CPU")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cases", type=int, default=cases.MAX_CASES)
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--no-calibration", action="store_true")
    args = p.parse_args()
    if not args.no_calibration:
        calibration()
    cpu(args.cases, args.calls)


if __name__ == "__main__":
    main()
