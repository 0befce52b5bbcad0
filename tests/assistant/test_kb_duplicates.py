"""Duplicate FAQ entries on `kb import`: the encoder proposes, the fused same-meaning decision
confirms (issue 15, item 2)."""

from __future__ import annotations

from brokercare.assistant import kb
from brokercare.assistant.kb.duplicates import find_duplicates


def test_a_broker_importing_its_faq_sees_which_questions_repeat_the_starter_faq():
    starter = [(q, "starter FAQ") for q, _a, _i in kb.starter_faq()]
    imported = ["开户需要带哪些材料", "科创板开通要求", "融券费率怎么算", "营业部周六开门吗", "周六营业部上班吗"]
    found = find_duplicates(imported, starter, kb.get_matcher())
    pairs = {(d.question, d.other, d.where) for d in found}
    assert ("开户需要带哪些材料", "开户需要准备什么材料？", "starter FAQ") in pairs
    assert ("科创板开通要求", "科创板权限开通条件是什么？", "starter FAQ") in pairs
    # Two lines of the same file asking one thing are reported once.
    assert len([d for d in found if d.where == "file" and {d.question, d.other} == set(imported[3:])]) == 1
    # Looks like 融资利率 but asks about 融券: not a duplicate of anything.
    assert all("融券费率怎么算" not in (d.question, d.other) for d in found)
    assert all(d.probability >= kb.get_matcher().threshold for d in found)
    assert "开户需要准备什么材料？" in next(d.warning() for d in found if d.question == "开户需要带哪些材料")


def test_the_starter_faq_has_no_duplicates_of_itself():
    questions = [q for q, _a, _i in kb.starter_faq()]
    assert find_duplicates(questions, [], kb.get_matcher()) == []
