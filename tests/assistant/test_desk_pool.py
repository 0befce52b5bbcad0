"""The desk teaches the assistant: the labelled pool, `nlu retrain` with its promotion gate, model
versions and rollback, and the FAQ gaps a knowledge owner reads (issue 15, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brokercare.assistant import gaps, pool, registry, retrain
from brokercare.assistant import service as assistant
from brokercare.assistant.kb import training
from brokercare.assistant.kb.store import knowledge_base
from brokercare.assistant.kb.training import get_matcher, prepare_matcher
from brokercare.assistant.pool import DeskSignal
from brokercare.core.errors import NotFound, ValidationFailed

# What agents on a broker's desk corrected in one week: the customer's words, the right intent.
CORRECTIONS = [
    ("钱从证券账户转出去三个小时了银行卡还没收到", "transfer_status"),
    ("一天期的逆回购到期了钱啥时候能取出来", "reverse_repo"),
    ("我那个转债明天强赎了，今天不卖会怎样", "convertible_bond"),
    ("港股通的钱是人民币扣还是港币扣的", "hk_connect"),
    ("中了一签北交所的新股 明天几点前要把钱存进去", "ipo_payment"),
    ("维持担保比例掉到135了要不要补钱", "margin_liquidation"),
]


def _mark(session, text, label, user_id=7, message_id=None):
    return assistant.learn(session, DeskSignal("wrong_intent", text, proposed_label="chitchat", label=label,
                                               by_user_id=user_id, message_id=message_id))


def test_a_wrong_intent_mark_is_a_labelled_row_with_who_marked_it(session):
    row_id = _mark(session, "逆回购周四做的话能拿几天利息", "reverse_repo", user_id=12, message_id=501)
    # The agent changes their mind on the same message: still one row, with the newer label.
    assert _mark(session, "逆回购周四做的话能拿几天利息", "trading_rules", user_id=12, message_id=501) == row_id
    session.commit()
    (row,) = pool.rows(session, source="wrong_intent")
    assert (row.label, row.proposed_label, row.labelled_by_id, row.message_id) == ("trading_rules", "chitchat", 12, 501)
    assert row.labelled_at is not None and row.created_at is not None
    assert pool.labelled_examples(session) == [("逆回购周四做的话能拿几天利息", "trading_rules")]


def test_signals_without_a_confirmed_intent_wait_for_a_person(session):
    assistant.learn(session, DeskSignal("no_kb_answer", "可转债下修是什么意思", proposed_label="convertible_bond",
                                        conversation_id=3, message_id=40))
    assistant.learn(session, DeskSignal("low_csat", "我的钱到底什么时候到账", proposed_label="transfer_status",
                                        conversation_id=4, message_id=41, csat_score=1))
    session.commit()
    assert pool.labelled_examples(session) == []
    counts = pool.counts(session)
    assert counts["no_kb_answer"] == {"rows": 1, "labelled": 0} and counts["low_csat"]["rows"] == 1
    (waiting,) = pool.rows(session, source="low_csat", labelled=False)
    pool.confirm_label(session, waiting.id, "transfer_status", by_user_id=3)
    session.commit()
    assert pool.labelled_examples(session) == [("我的钱到底什么时候到账", "transfer_status")]
    with pytest.raises(ValidationFailed):
        pool.confirm_label(session, waiting.id, "好像是转账", by_user_id=3)
    with pytest.raises(NotFound):
        pool.confirm_label(session, 999, "transfer_status", by_user_id=3)


def test_a_mark_needs_a_known_intent_and_the_agent(session):
    with pytest.raises(ValidationFailed):
        _mark(session, "融资利率能不能再低点", "两融利率")
    with pytest.raises(ValidationFailed):
        assistant.learn(session, DeskSignal("wrong_intent", "融资利率能不能再低点", label="margin_cost"))
    with pytest.raises(ValidationFailed):
        assistant.learn(session, DeskSignal("no_kb_answer", "   "))


def test_retrain_promotes_a_model_that_learned_the_desk_corrections_and_rollback_returns(session):
    assert retrain.retrain(session).outcome == "unchanged"  # nothing taught yet
    for i, (text, label) in enumerate(CORRECTIONS):
        _mark(session, text, label, message_id=100 + i)
    session.commit()
    result = retrain.retrain(session)
    assert result.outcome == "promoted" and result.pool_rows == len(CORRECTIONS)
    assert registry.active_version("intent") == result.version == "v1"
    assert set(result.candidate) == {"accuracy", "macro_f1", "out_of_scope_recall"}
    assert all(result.candidate[k] >= result.current[k] - retrain.TOLERANCE for k in result.candidate)
    model, info = registry.load("intent")
    assert info.version == "v1" and info.pool_rows == len(CORRECTIONS) and info.status == "promoted"
    assert model.predict(["钱从证券账户转出去三个小时了银行卡还没收到"]) == ["transfer_status"]
    (listed,) = registry.list_versions("intent")
    assert listed["metrics"]["candidate"] == result.candidate and listed["metrics"]["active_version"] == "builtin"
    assert retrain.retrain(session).outcome == "unchanged"  # the same pool again: nothing new
    assert registry.rollback("intent") == ("v1", "builtin")
    assert registry.load("intent")[1].version == "builtin"
    with pytest.raises(NotFound):
        registry.rollback("intent")


def test_retrain_rejects_a_candidate_taught_wrong_labels(session):
    """A careless agent marks every transfer and account-opening question as a complaint: the
    candidate is stored with its figures but the assistant keeps the model it had."""
    texts, labels = registry.shipped_data("intent")
    wrong = [t for t, lab in zip(texts, labels, strict=True)
             if lab in ("bank_transfer", "transfer_status", "account_open")]
    for i, text in enumerate(wrong):
        _mark(session, text, "complaint", message_id=1000 + i)
    session.commit()
    result = retrain.retrain(session)
    assert result.outcome == "rejected" and result.active == "builtin"
    assert result.worse and all(new < old for old, new in result.worse.values())
    (stored,) = registry.list_versions("intent")
    assert stored["status"] == "rejected" and stored["note"]
    assert registry.load("intent")[1].version == "builtin"


def test_sentences_of_the_evaluation_sets_are_never_trained_on(session):
    import csv

    from brokercare.assistant.lexicon import DATA

    with DATA.joinpath("eval", "intent_test.csv").open(encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    _mark(session, row["text"] + "！", row["label"], message_id=1)
    _mark(session, CORRECTIONS[0][0], CORRECTIONS[0][1], message_id=2)
    session.commit()
    texts, _labels, used, excluded = retrain.training_data(session)
    assert (used, excluded) == (1, 1)
    assert row["text"] + "！" not in texts and CORRECTIONS[0][0] in texts


def test_faq_gaps_group_unanswered_questions_by_meaning(session):
    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    asked = ["可转债下修是什么意思", "转债向下修正转股价是啥意思", "可转债下修条款怎么理解",
             "北交所权限怎么开通", "开通北交所需要什么条件", "你们营业部有停车位吗"]
    for i, text in enumerate(asked):
        pool.record(session, DeskSignal("no_kb_answer", text, message_id=200 + i), now=now - timedelta(days=i))
    # Asked two months ago: outside the 30 days the knowledge owner looks at.
    old = pool.record(session, DeskSignal("no_kb_answer", "科创板跟投是什么", message_id=300),
                      now=now - timedelta(days=60))
    session.commit()
    found = gaps.faq_gaps(session, days=30, now=now)
    assert [g.asked for g in found] == [3, 2, 1]
    assert set(found[0].examples) == set(asked[:3]) and found[0].question in asked[:3]
    assert set(found[1].examples) == set(asked[3:5])
    assert found[2].question == "你们营业部有停车位吗"
    assert old.id not in {i for g in found for i in g.row_ids}


def test_a_promoted_intent_model_reaches_the_knowledge_base_of_a_running_process(session):
    """The weekly retrain runs inside the embedded server: after a promotion the server's knowledge
    base searches with the matcher built for the new intent model, and after a rollback with the
    builtin's again, without a restart."""

    builtin = knowledge_base(session)
    for i, (text, label) in enumerate(CORRECTIONS):
        _mark(session, text, label, message_id=200 + i)
    session.commit()
    assert retrain.retrain(session).outcome == "promoted"
    prepare_matcher()  # what the weekly job does after a promotion
    promoted = knowledge_base(session)
    assert promoted.matcher is get_matcher() and promoted.matcher is not builtin.matcher
    best = promoted.search("维持担保比例掉到135%了要不要补钱", k=1)[0]
    assert "担保比例" in best.question or best.intent in ("margin_ratio", "margin_liquidation", "margin_call")
    registry.rollback("intent")
    back = knowledge_base(session)
    assert back.matcher is get_matcher() and back.matcher is not promoted.matcher
    assert training._matcher[0].startswith("builtin|")  # the builtin's matcher, loaded from the cache
