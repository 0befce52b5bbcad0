"""Goals (glide paths, Monte Carlo, adjustments within suitability) and scenario packages."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from brokercare.advisory import goals as G
from brokercare.advisory import packages as K
from brokercare.advisory import service
from brokercare.advisory.models import CustomerGoal
from brokercare.core.errors import NotFound, PermissionDenied, ValidationFailed


def test_glide_path_moves_to_low_risk_and_respects_the_customer_level():
    assert [G.glide_level("education", y, "C5") for y in (12, 7, 4, 1)] == ["C4", "C3", "C2", "C1"]
    assert G.glide_level("retirement", 20, "C3") == "C3"  # never above the customer's own level
    assert G.glide_level("education", 12, "C2", shift=2) == "C2"


def test_more_money_and_more_time_raise_the_probability():
    base = G.Goal("education", 400_000, 8, 50_000, 2_000, "C4")
    p = G._p(G.simulate(base), base.target_amount)
    richer = G._p(G.simulate(base, monthly=3_000), base.target_amount)
    longer = G.Goal("education", 400_000, 10, 50_000, 2_000, "C4")
    assert 0 <= p < richer <= 1
    assert G._p(G.simulate(longer), 400_000) > p


def test_final_wealth_matches_a_hand_computation_for_cash():
    # C1 holds money only: with no contributions the result is the compounded money return
    goal = G.Goal("education", 1, 0.5, 100_000, 0, "C1")
    wealth = G.simulate(goal)
    assert wealth.min() > 100_000 and wealth.max() < 100_000 * 1.025  # 6 months at < 5 % a year


def test_off_track_goal_gets_adjustments_that_work():
    proj = G.project(G.Goal("education", 500_000, 10, 50_000, 2_000, "C4"))
    assert not proj.on_track and "可以考虑下面的调整方案" in proj.message
    kinds = {a.kind: a for a in proj.adjustments}
    more = kinds["contribute_more"]
    assert more.monthly > 2_000 and more.probability >= G.config()["success_threshold"]
    assert kinds["extend"].years > 10 and kinds["extend"].probability >= G.config()["success_threshold"]
    if "change_risk" in kinds:  # bolder, but only up to C4
        assert "C4 积极型" in kinds["change_risk"].message


def test_on_track_goal_has_no_adjustments():
    proj = G.project(G.Goal("retirement", 1_000_000, 25, 300_000, 3_000, "C3"))
    assert proj.on_track and proj.adjustments == [] and proj.probability >= 0.7


def test_five_percent_in_one_year_is_not_promised():
    proj = G.project(G.Goal("target_return", 105_000, 1, 100_000, 0, "C2"))
    assert proj.probability < 0.5 and "5.0%收益" in proj.message
    assert all(a.kind != "contribute_more" for a in proj.adjustments)
    assert all(a.kind != "change_risk" for a in proj.adjustments)  # C2 is already the cap


@pytest.mark.parametrize("goal", [
    G.Goal("lottery", 1, 1, 1, 0), G.Goal("house", -5, 3, 1, 0), G.Goal("house", 5, 0, 1, 0),
    G.Goal("house", 5, 3, 0, 0), G.Goal("house", 5, 3, 1, 0, "C9"),
])
def test_bad_goals_are_rejected(goal):
    with pytest.raises(ValidationFailed):
        G.project(goal)


def test_one_year_package_checks_its_own_target_honestly():
    plan = K.plan("steady_5pct_1y", "C2")
    assert set(plan.allocation) == {"000198.OF", "000084.OF", "204001.SH"}
    checks = {c.name: c for c in plan.checks}
    assert checks["suitability"].passed and checks["liquidity"].passed
    assert plan.expected_return < 0.05 and not checks["target_feasibility"].passed
    assert "达不到5%" in checks["target_feasibility"].message
    c1 = K.plan("steady_5pct_1y", "C1")  # short bond funds are R2
    assert not {c.name: c for c in c1.checks}["suitability"].passed


def test_life_stage_packages_follow_the_glide_path():
    far = K.plan("education", "C5", years_left=12)
    near = K.plan("education", "C5", years_left=1)
    assert far.level == "C4" and near.level == "C1"
    assert "000051.OF" in far.allocation and set(near.allocation) <= {"000198.OF", "204001.SH"}
    capped = K.plan("retirement", "C2", years_left=25)
    assert capped.level == "C2" and all(c.passed for c in capped.checks)
    with pytest.raises(ValidationFailed):
        K.plan("education", "C3")
    with pytest.raises(NotFound):
        K.plan("holiday", "C3")


def test_drift_monitoring_raises_a_suggestion_only_beyond_the_band():
    plan = K.plan("steady_5pct_1y", "C3")
    calm = K.monitor(plan, {"000198.OF": 31_000, "000084.OF": 49_000, "204001.SH": 20_000})
    assert not calm.drifted and "无需调整" in calm.suggestion
    drifted = K.monitor(plan, {"000198.OF": 60_000, "000084.OF": 30_000, "204001.SH": 10_000})
    assert drifted.drifted and drifted.max_drift == pytest.approx(0.30)
    moves = {m["symbol"]: (m["action"], m["amount"]) for m in drifted.moves}
    assert moves["000198.OF"] == ("sell", 30_000.0) and moves["000084.OF"] == ("buy", 20_000.0)
    assert "天弘余额宝货币多了约30,000元" in drifted.suggestion
    with pytest.raises(ValidationFailed):
        K.monitor(plan, {})


def test_goal_is_stored_and_tracked(session, customer_factory):
    today = date.today()
    customer = customer_factory(level="C4")
    row, proj = service.set_goal(session, customer.id, kind="education", target_amount=400_000,
                                 target_date=today + timedelta(days=365 * 8), current_value=50_000, monthly=2_000)
    session.commit()
    assert row.id and row.probability == pytest.approx(proj.probability) and proj.goal.investor_level == "C4"
    assert not row.on_track and proj.adjustments
    # the customer follows the advice: more saved and more each month -> the goal is back on track
    row2, proj2 = service.review_goal(session, row.id, current_value=150_000, monthly=3_500)
    assert proj2.probability > proj.probability and row2.on_track
    done, none = service.review_goal(session, row.id, current_value=420_000)
    assert none is None and done.status == "achieved"
    assert [g.id for g in service.goals_of(session, customer.id)] == [row.id]
    unassessed = customer_factory()
    with pytest.raises(PermissionDenied):
        service.set_goal(session, unassessed.id, kind="house", target_amount=1e6,
                         target_date=today + timedelta(days=900), current_value=1e5)
    with pytest.raises(ValidationFailed):
        service.set_goal(session, customer.id, kind="house", target_amount=1e6,
                         target_date=today - timedelta(days=1), current_value=1e5)
    session.rollback()
    assert session.query(CustomerGoal).count() == 1


def test_nightly_goal_review_counts_outcomes(session, customer_factory):
    today = date.today()
    ok = customer_factory(level="C3")
    service.set_goal(session, ok.id, kind="retirement", target_amount=500_000,
                     target_date=today + timedelta(days=365 * 20), current_value=300_000, monthly=3_000)
    service.set_goal(session, ok.id, kind="house", target_amount=2_000_000,
                     target_date=today + timedelta(days=365 * 3), current_value=100_000, monthly=1_000)
    session.commit()
    counts = service.review_goals(session)  # both were projected when set today: reused, not simulated again
    assert counts == {"on_track": 1, "off_track": 1, "achieved": 0, "skipped": 0, "reused": 2}
    counts = service.review_goals(session, today=service.local_today() + timedelta(days=1))  # the next night
    assert counts == {"on_track": 1, "off_track": 1, "achieved": 0, "skipped": 0, "reused": 0}
