"""Understanding customers: intents, out-of-scope, emotion; training and evaluating on own data."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from brokercare.assistant import registry, service
from brokercare.cli import app
from brokercare.core.errors import ValidationFailed


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("两容怎么开通，我有60万资产", "margin_open"),
        ("维保比例现在多少了", "margin_ratio"),
        ("收到追保短信，明天不补会被强平吗", "margin_liquidation"),
        ("打新额度咋算的", "ipo_subscribe"),
        ("中前了没", "ipo_result"),
        ("中了一签钱不够咋办", "ipo_payment"),
        ("nhg怎么买", "reverse_repo"),
        ("转出去的五万块到现在还没到账", "transfer_status"),
        ("银证转账几点能转", "bank_transfer"),
        ("APP一直闪退打不开", "app_issue"),
        ("转人工！", "human_agent"),
        ("红烧肉怎么做", "out_of_scope"),
        ("车险理赔要什么材料", "out_of_scope"),
    ],
)
def test_intents_of_real_customer_phrasing(text, intent):
    analysis = service.analyze(text)
    assert analysis.intent == intent
    assert len(analysis.intents) == 3
    assert analysis.intents[0][1] >= analysis.intents[1][1] >= analysis.intents[2][1]
    assert 0 < analysis.confidence <= 1


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("最近股市跌惨了，我该怎么办？", "anxious"),
        ("你们什么破系统，卡了一上午，我要投诉！", "angry"),
        ("唉，又没中签，算了", "disappointed"),
        ("谢谢，问题解决了，很满意", "satisfied"),
        ("请问逆回购几点可以买", "calm"),
    ],
)
def test_emotions(text, emotion):
    assert service.analyze(text).emotion == emotion


def test_intensity_rises_with_the_heat_of_the_message():
    mild = service.analyze("客服态度有点差")
    hot = service.analyze("你们这什么垃圾服务！！！气死我了，马上给我处理！")
    assert hot.emotion == "angry"
    assert 0 <= mild.intensity < hot.intensity <= 1
    assert service.analyze("交易时间是几点").intensity <= 0.3


def test_analysis_is_serialisable_with_skill_and_entities():
    d = service.analyze("我想把3万转到工行卡上").as_dict()
    assert d["skill"] == "trading"
    assert {e["kind"] for e in d["entities"]} >= {"amount", "bank"}
    json.dumps(d, ensure_ascii=False)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValidationFailed):
        service.analyze("   ")
    long = "我要投诉，" + "转账一直不到账。" * 600
    assert len(service.analyze(long).text) == service.MAX_TEXT  # transcripts are cut, not refused


def _write(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_train_and_eval_on_a_brokers_own_labels(tmp_path):
    rows = [(f"想买{n}号理财", "buy") for n in range(12)] + [(f"第{n}号理财怎么赎回", "redeem") for n in range(12)]
    rows += [("帮我买点理财", "buy"), ("理财能不能提前赎回", "redeem")]
    train = tmp_path / "train.csv"
    _write(train, rows)
    runner = CliRunner()
    r = runner.invoke(app, ["nlu", "train", "--task", "intent", "--data", str(train)])
    assert r.exit_code == 0, r.output
    assert "v1" in r.output
    assert registry.active_version("intent") == "v1"
    test = tmp_path / "test.csv"
    _write(test, [("我要买理财", "buy"), ("赎回理财", "redeem"), ("理财赎回要几天", "redeem")])
    r = runner.invoke(app, ["nlu", "eval", "--task", "intent", "--data", str(test), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert set(report) >= {"accuracy", "macro_f1", "per_label", "confusions"}
    assert report["accuracy"] == 1.0
    assert report["model"]["version"] == "v1"
    # A second training makes v2; going back to the shipped model is one command.
    assert runner.invoke(app, ["nlu", "train", "--task", "intent", "--data", str(train)]).exit_code == 0
    assert [v["version"] for v in registry.list_versions("intent")] == ["v1", "v2"]
    assert runner.invoke(app, ["nlu", "activate", "--task", "intent", "builtin"]).exit_code == 0
    assert service.analyze("两融怎么开").intent == "margin_open"


def test_train_rejects_bad_files(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    _write(bad, [("a", "b")], header=("sentence", "intent"))
    r = runner.invoke(app, ["nlu", "train", "--task", "intent", "--data", str(bad)])
    assert r.exit_code == 2 and "missing column" in r.output
    r = runner.invoke(app, ["nlu", "train", "--task", "sentiment", "--data", str(bad)])
    assert r.exit_code == 2 and "unknown task" in r.output
    r = runner.invoke(app, ["nlu", "eval", "--task", "intent", "--data", str(tmp_path / "missing.csv")])
    assert r.exit_code == 2 and "not found" in r.output
    assert registry.list_versions("intent") == []
