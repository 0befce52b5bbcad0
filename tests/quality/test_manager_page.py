"""A customer manager sees their own customers most at risk of leaving, with the reasons in
Chinese, and their month's scorecard on the workbench page; the API gives a manager only their
own risks, and scorecards only to the manager, their lead and admins."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import httpx
from sqlalchemy.orm import Session
from tests.quality import dataset
from tests.web.conftest import LiveServer

from brokercare.api import create_app
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.customers.models import Customer
from brokercare.engagement.models import Lead
from brokercare.quality.models import ChurnScore
from brokercare.security.service import create_user
from brokercare.service.models import AgentProfile

PASSWORD = "Jingli-2026!"


def _build(engine) -> dict[str, int]:
    with Session(engine, expire_on_commit=False) as s:
        desk = dataset.build(s)
        lead = create_user(s, username="lead02", password=PASSWORD, role="team_lead", display_name="吴组长")
        mine = create_user(s, username="mgr01", password=PASSWORD, role="customer_manager", display_name="李经理")
        other = create_user(s, username="mgr02", password=PASSWORD, role="customer_manager", display_name="何经理")
        create_user(s, username="admin02", password=PASSWORD, role="admin", display_name="齐主管")
        s.flush()
        s.add(AgentProfile(user_id=mine.id, skills=[], max_concurrent=3, team_lead_id=lead.id))
        lin, su = desk.contacts["lin"].customer_id, desk.contacts["su"].customer_id
        s.get(Customer, lin).manager_id, s.get(Customer, su).manager_id = mine.id, other.id
        today = datetime.now(SHANGHAI).date()
        s.add_all([
            ChurnScore(scored_on=today, customer_id=lin, manager_id=mine.id, score=0.31, top_share=True,
                       reasons=["近 90 天净转出资金 35.2 万元（转出 2 笔）", "已 45 天未登录 App"], model_trained_at=utcnow()),
            ChurnScore(scored_on=today, customer_id=su, manager_id=other.id, score=0.12, top_share=False,
                       reasons=["近半年投诉 1 次"], model_trained_at=utcnow())])
        s.add_all([Lead(customer_id=lin, need="life_event", manager_id=mine.id, score=0.8, reason="客户近期退休",
                        talking_points=["了解养老规划"], state="won", raised_on=date(2026, 11, 3),
                        contacted_at=dataset.bj(11, 4, 10), closed_at=dataset.bj(11, 6, 10), amount=Decimal("200000")),
                   Lead(customer_id=su, need="idle_cash", manager_id=other.id, score=0.6, reason="账户闲置资金较多",
                        talking_points=["介绍国债逆回购"], state="new", raised_on=date(2026, 11, 5))])
        s.commit()
        return {"mine": mine.id, "other": other.id, "lin": lin, "su": su}


def test_the_manager_reads_their_churn_risks_and_scorecard(engine):
    _build(engine)
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/login", data={"username": "mgr01", "password": PASSWORD})
        page = http.get("/workbench/leads").text
    assert "流失风险客户" in page and "林国华" in page and "31%" in page and "全公司前 5%" in page
    assert "近 90 天净转出资金 35.2 万元（转出 2 笔）" in page and "已 45 天未登录 App" in page
    assert "苏晓梅" not in page and "近半年投诉 1 次" not in page  # another manager's customer
    assert "本月计分卡" in page and "暂无月末资产快照" in page
    for code in ("money_out_90d", "days_since_visit", "None", "nan"):
        assert code not in page


def test_the_api_keeps_each_manager_to_their_own_book(engine):
    ids = _build(engine)
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        def bearer(username: str) -> dict:
            token = http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
            return {"Authorization": f"Bearer {token['access_token']}"}

        mine, lead, other, admin = bearer("mgr01"), bearer("lead02"), bearer("mgr02"), bearer("admin02")
        own = http.get("/api/v1/quality/churn/top", headers=mine)
        peek = http.get("/api/v1/quality/churn/top", params={"manager_id": ids["other"]}, headers=mine)
        team = http.get("/api/v1/quality/churn/top", params={"manager_id": ids["mine"]}, headers=lead)
        not_team = http.get("/api/v1/quality/churn/top", params={"manager_id": ids["other"]}, headers=lead)
        everyone = http.get("/api/v1/quality/churn/top", headers=admin)
        card = http.get(f"/api/v1/quality/managers/{ids['mine']}/scorecard", params={"month": "2026-11"}, headers=lead)
        nosy = http.get(f"/api/v1/quality/managers/{ids['mine']}/scorecard", params={"month": "2026-11"}, headers=other)
        conversion = http.get("/api/v1/quality/lead-conversion", params={"month": "2026-11"}, headers=lead)
        refused = http.get("/api/v1/quality/lead-conversion", params={"month": "2026-11"}, headers=mine)
    assert own.status_code == 200 and [r["customer_id"] for r in own.json()] == [ids["lin"]]
    assert own.json()[0]["reasons"][0].startswith("近 90 天净转出资金") and own.json()[0]["top_5_percent"] is True
    assert peek.status_code == 403
    assert [r["customer_id"] for r in team.json()] == [ids["lin"]]  # 吴组长 leads 李经理
    assert not_team.status_code == 403  # ... not 何经理
    assert [r["customer_id"] for r in everyone.json()] == [ids["lin"], ids["su"]]
    assert card.status_code == 200 and card.json()["manager_id"] == ids["mine"]
    assert nosy.status_code == 403
    assert conversion.status_code == 200 and conversion.json()["overall"][0]["leads_raised"] == 2
    assert refused.status_code == 403


def test_the_kpi_page_shows_proactive_lead_conversion_by_need_and_manager(engine):
    _build(engine)
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/login", data={"username": "lead02", "password": PASSWORD})
        page = http.get("/workbench/kpi?month=2026-11").text
    assert "主动服务线索转化（按需求）" in page and "线索转化率（成交/已联系）" in page
    assert re.search(r"<th>人生阶段规划</th><td>1</td><td>1</td><td>1</td><td>100.0%</td><td>100.0%</td>", page)
    assert re.search(r"<th>闲置资金管理</th><td>1</td><td>0</td><td>0</td><td>—</td><td>0.0%</td>", page)
    assert re.search(r"<th>李经理</th><td>1</td>", page) and re.search(r"<th>何经理</th><td>1</td>", page)
    assert "life_event" not in page and "idle_cash" not in page
