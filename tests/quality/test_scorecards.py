"""Agents' scorecards: the team lead samples the team's conversations, fills in the review form,
and the agent, the lead and admins — nobody else — read the month's scorecard."""

from __future__ import annotations

import pytest
from tests.quality import dataset

from brokercare.core.errors import Conflict, PermissionDenied, ValidationFailed
from brokercare.quality import scorecards
from brokercare.quality import service as quality

GOOD = {"greeting": 5, "understanding": 4, "accuracy": 4, "compliance": 5, "efficiency": 3}


@pytest.fixture
def desk(session):
    return dataset.build(session)


def test_a_lead_samples_only_her_teams_unreviewed_conversations(session, desk):
    zhou, wu = desk.staff["lead_zhou"], desk.staff["lead_wu"]
    start, end = quality.month_window(dataset.MONTH)
    conv = {k: c.id for k, c in desk.conversations.items()}
    team_zhou = {conv["A"], conv["C"], conv["E"], conv["G"]}  # 王敏's and 陈洁's, all closed
    picked = scorecards.sample_for_review(session, zhou, start, end, n=2, seed=7)
    assert len(picked) == 2 and set(picked) <= team_zhou
    rest = scorecards.sample_for_review(session, zhou, start, end, n=10)  # a draw is never drawn again
    assert set(rest) == team_zhou - set(picked)
    assert scorecards.sample_for_review(session, zhou, start, end, n=10) == []
    assert [w.conversation_id for w in scorecards.waiting_reviews(session, zhou)] == [*picked, *rest]
    assert scorecards.sample_for_review(session, wu, start, end, n=10) == [conv["H"]]  # 李经理's
    scorecards.record_review(session, zhou, conv["A"], GOOD, comment="解释担保比例清楚，提示了平仓风险")
    assert conv["A"] not in [w.conversation_id for w in scorecards.waiting_reviews(session, zhou)]
    with pytest.raises(PermissionDenied):
        scorecards.sample_for_review(session, desk.staff["agent_wang"], start, end)


def test_the_review_form_and_who_may_fill_it_in(session, desk):
    zhou, wu = desk.staff["lead_zhou"], desk.staff["lead_wu"]
    conv = {k: c.id for k, c in desk.conversations.items()}
    review = scorecards.record_review(session, zhou, conv["G"], GOOD)
    assert (review.agent_id, review.total) == (desk.staff["agent_wang"].id, 84)  # 21 of 25 points
    with pytest.raises(Conflict):
        scorecards.record_review(session, zhou, conv["G"], GOOD)
    with pytest.raises(PermissionDenied):  # 王敏 is not in 吴组长's team
        scorecards.record_review(session, wu, conv["A"], GOOD)
    with pytest.raises(ValidationFailed, match="criterion"):
        scorecards.record_review(session, zhou, conv["A"], {**GOOD, "efficiency": 6})
    with pytest.raises(ValidationFailed, match="AI alone"):
        scorecards.record_review(session, zhou, conv["D"], GOOD)


def test_the_scorecard_is_seen_by_the_agent_the_lead_and_no_colleague(session, desk):
    wang, chen, zhou = desk.staff["agent_wang"], desk.staff["agent_chen"], desk.staff["lead_zhou"]
    conv = {k: c.id for k, c in desk.conversations.items()}
    start, end = quality.month_window(dataset.MONTH)
    scorecards.record_review(session, zhou, conv["E"], GOOD, now=dataset.bj(11, 12, 10))
    scorecards.record_review(session, zhou, conv["C"], {k: 3 for k in GOOD}, now=dataset.bj(11, 13, 10))
    card = scorecards.agent_scorecard(session, chen, chen.id, start, end)
    # 陈洁: 张伟's transfer (10 min to first reply) and 苏晓梅's complaint (60 min); the transfer
    # ticket was reopened once; CSAT 3 and 2.
    assert card["name"] == "陈洁" and card["conversations"] == 2
    assert card["first_response_median_s"] == pytest.approx(2_100.0)
    assert (card["tickets_resolved"], card["reopen_rate"]) == (2, 0.5)
    assert (card["csat_average"], card["csat_responses"]) == (pytest.approx(2.5), 2)
    assert (card["reviews"], card["review_score"]) == (2, pytest.approx(72.0))  # 84 and 60
    assert scorecards.agent_scorecard(session, zhou, chen.id, start, end)["conversations"] == 2
    with pytest.raises(PermissionDenied):
        scorecards.agent_scorecard(session, wang, chen.id, start, end)
