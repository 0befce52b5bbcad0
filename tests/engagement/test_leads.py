"""Leads for customer managers: the need, its reason and talking points in Chinese, the
customer's own manager, a cool-down per need, and the outcome recorded for conversion."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.engagement.people import branch

from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import Conflict, PermissionDenied, ValidationFailed
from brokercare.engagement import leads
from brokercare.engagement.models import Lead

TODAY = datetime.now(SHANGHAI).date()


@pytest.fixture
def people(session):
    return branch(session)


def _leads(session) -> list[tuple[int, str, str]]:
    return [(x.customer_id, x.need, x.raised_on.isoformat()) for x in session.scalars(select(Lead).order_by(Lead.id))]


def test_needs_become_leads_for_the_customers_own_manager_in_chinese(session, people):
    raised = leads.raise_leads(session, TODAY)
    session.commit()
    assert raised.leads == 2
    mine = {x.need: x for x in leads.leads_of(session, manager_id=people["wang"])}
    assert list(mine) == ["foreign_currency"]  # 周敏 (also 王经理's) needs nothing
    fx = mine["foreign_currency"]
    assert fx.customer_id == people["chen"] and fx.state == "new" and 0.3 <= fx.score <= 1
    assert "搜索3次留学" in fx.reason and "美元资产仅占0.0%" in fx.reason
    assert any("美元货币基金" in t for t in fx.talking_points)
    assert all("{" not in t for t in fx.talking_points)
    idle = leads.leads_of(session, manager_id=people["zhao"])
    assert [(x.customer_id, x.need) for x in idle] == [(people["liu"], "idle_cash")]
    assert "账户现金约50.0万元" in idle[0].reason


def test_a_lead_is_not_raised_twice_inside_its_cool_down(session, people):
    leads.raise_leads(session, TODAY)
    assert leads.raise_leads(session, TODAY).leads == 0  # the same night again
    fx = leads.leads_of(session, manager_id=people["wang"])[0]
    leads.update_lead(session, fx.id, state="lost", outcome="客户表示孩子明年才出国，暂不考虑", by_manager=people["wang"])
    later = leads.raise_leads(session, TODAY + timedelta(days=30))  # idle cash: 30-day cool-down over
    assert later.leads == 1 and later.cooling == 1  # foreign currency: 90 days, lost or not
    assert leads.raise_leads(session, TODAY + timedelta(days=59)) == leads.Raised(leads=0, cooling=2, capped=0)
    assert leads.raise_leads(session, TODAY + timedelta(days=90)).leads == 2
    day = {k: (TODAY + timedelta(days=k)).isoformat() for k in (0, 30, 90)}
    assert _leads(session) == [
        (people["chen"], "foreign_currency", day[0]), (people["liu"], "idle_cash", day[0]),
        (people["liu"], "idle_cash", day[30]),
        (people["chen"], "foreign_currency", day[90]), (people["liu"], "idle_cash", day[90]),
    ]


def test_a_lead_moves_to_its_outcome_and_only_its_manager_moves_it(session, people):
    leads.raise_leads(session, TODAY)
    fx = leads.leads_of(session, manager_id=people["wang"])[0]
    with pytest.raises(PermissionDenied):
        leads.update_lead(session, fx.id, state="contacted", by_manager=people["zhao"])
    leads.update_lead(session, fx.id, state="contacted", by_manager=people["wang"])
    with pytest.raises(ValidationFailed, match="amount"):
        leads.update_lead(session, fx.id, state="won", outcome="买入美元货币基金", by_manager=people["wang"])
    won = leads.update_lead(session, fx.id, state="won", outcome="买入美元货币基金", amount=Decimal("200000"),
                            by_manager=people["wang"])
    assert (won.state, won.amount, won.outcome) == ("won", Decimal("200000"), "买入美元货币基金")
    assert won.contacted_at is not None and won.closed_at is not None
    with pytest.raises(Conflict):
        leads.update_lead(session, fx.id, state="lost", outcome="改主意", by_manager=None)
    funnel = {r["need"]: r for r in leads.conversion(session, since=TODAY)}
    assert (funnel["foreign_currency"]["won"], funnel["foreign_currency"]["won_amount"]) == (1, Decimal("200000"))
    assert funnel["foreign_currency"]["win_rate"] == 1.0 and funnel["idle_cash"]["new"] == 1


def test_a_rule_naming_an_unknown_feature_is_refused():
    with pytest.raises(ValueError, match="unknown feature"):
        leads.Condition.model_validate({"feature": "usd_share_typo", "lt": 0.05})
