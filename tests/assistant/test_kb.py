"""The knowledge base a broker imports and the matcher behind retrieval."""

from __future__ import annotations

import csv
import json

import numpy as np
from typer.testing import CliRunner

from brokercare.assistant import kb
from brokercare.assistant.kb import corpus
from brokercare.assistant.models import KbEntry
from brokercare.cli import app


def test_starter_faq_is_large_and_states_the_rules_right():
    faq = kb.starter_faq()
    assert len(faq) >= 150
    answers = {q: a for q, a, _i in faq}
    assert "0.05%" in answers["印花税怎么收？"] and "只在卖出时" in answers["印花税怎么收？"]
    assert "T+1" in answers["A股是T+1吗？"]
    assert "1万元" in answers["打新需要什么条件？"]
    assert "130%" in answers["担保比例的警戒线和平仓线是多少？"]


def test_retrieval_survives_slang_and_paraphrase():
    base = kb.knowledge_base(None)
    assert base.search("两容开通要啥条件", 1)[0].question == "融资融券开通条件是什么？"
    assert base.search("卖股票收多少印花税啊", 1)[0].question == "印花税怎么收？"
    top = base.search("车险怎么理赔", 1)[0]
    assert not top.matched


def test_import_csv_and_markdown_then_search(session, tmp_path):
    csv_file = tmp_path / "faq.csv"
    with open(csv_file, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "answer", "intent"])
        w.writerow(["周末可以预约开户吗？", "可以，周末在APP提交开户申请，工作日审核。", "account_open"])
        w.writerow(["印花税怎么收？", "本公司说明：卖出时按0.05%收取。", "trading_fees"])
    result = kb.import_entries(session, kb.parse_faq_file(csv_file), source="faq.csv")
    assert (result.added, result.updated) == (2, 0)
    md = tmp_path / "faq.md"
    md.write_text("# 常见问题\n\n## 营业部停车方便吗？\n营业部楼下有收费停车场。\n\nQ: 能开发票吗？\nA: 佣金可以开具发票。\n",
                  encoding="utf-8")
    entries = kb.parse_faq_file(md)
    assert ("营业部停车方便吗？", "营业部楼下有收费停车场。", None) in entries
    kb.import_entries(session, entries, source="faq.md")
    session.commit()
    again = kb.import_entries(session, kb.parse_faq_file(csv_file), source="faq.csv")
    assert (again.added, again.updated, again.skipped) == (0, 0, 2)
    base = kb.knowledge_base(session)
    hit = base.search("印花税咋收的", 1)[0]
    assert hit.answer.startswith("本公司说明") and hit.source == "faq.csv"  # imported entry replaces the starter
    assert base.search("营业部能停车吗", 1)[0].question == "营业部停车方便吗？"
    assert session.query(KbEntry).count() == 4


def test_kb_cli_import_eval_and_bad_files(engine, tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("q,a\n1,2\n", encoding="utf-8")
    r = runner.invoke(app, ["kb", "import", str(bad)])
    assert r.exit_code == 2 and "question,answer" in r.output
    r = runner.invoke(app, ["kb", "import", str(tmp_path / "faq.pdf")])
    assert r.exit_code == 2
    pairs = tmp_path / "pairs.csv"
    with open(pairs, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["sentence1", "sentence2", "label"])
        w.writerow(["两融怎么开通", "融资融券开通条件是什么", "1"])
        w.writerow(["印花税多少", "卖股票收多少印花税", "1"])
        w.writerow(["印花税多少", "融资融券开通条件是什么", "0"])
        w.writerow(["今天天气怎么样", "卖股票收多少印花税", "0"])
    r = runner.invoke(app, ["kb", "eval", "--pairs", str(pairs), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert set(report) >= {"accuracy", "f1", "hit_at_1", "mrr"}
    assert report["hit_at_1"] == 1.0 and report["accuracy"] >= 0.75


def test_one_query_search_scores_exactly_as_the_batch_matcher():
    """The knowledge base searches one message at a time through a fast path; it must give the
    very features (hence scores) of the batch path the matcher was trained and evaluated with."""
    base = kb.knowledge_base(None)
    m = base.matcher
    queries = [p for p, _q in corpus.paraphrases()[::25]] + [
        "两容的平仓线是多少", "打新中签了钱不够咋办", "T+0的ETF有哪些", "3万5能买几手茅台",
        "我要投诉你们客服", "", "？？？", "ETF",
    ]
    for text in queries:
        fast = m.features_one(text, base._enc, base._index, base.concepts)
        batch = m.features(m.encode([text], concepts=base.concepts), base._enc)[0]
        assert np.allclose(fast, batch, atol=1e-9), text
    hits = base.search("融资融券的维持担保比例低于多少会被强平")
    assert hits and hits[0].matched
    batch_p = m.probability(m.features(m.encode(["融资融券的维持担保比例低于多少会被强平"],
                                                 concepts=base.concepts), base._enc))[0]
    assert abs(hits[0].score - float(batch_p.max())) < 1e-9
