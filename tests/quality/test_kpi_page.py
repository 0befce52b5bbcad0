"""The workbench KPI page shows the quality domain's figures, in Chinese, for a team lead."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.orm import Session
from tests.quality import dataset
from tests.web.conftest import LiveServer

from brokercare.api import create_app
from brokercare.security.service import create_user

PASSWORD = "Zuzhang-2026!"


def test_the_team_lead_reads_the_months_figures_on_the_kpi_page(engine):
    with Session(engine, expire_on_commit=False) as s:
        dataset.build(s)
        create_user(s, username="lead01", password=PASSWORD, role="team_lead", display_name="周晓燕")
        s.commit()
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/login", data={"username": "lead01", "password": PASSWORD})
        page = http.get(f"/workbench/kpi?month={dataset.MONTH}").text
        refused = http.get("/workbench/kpi?month=2026-13")
    assert "2026-11-01 至 2026-11-30（30 天）" in page
    assert re.search(r'<div class="v">25.0%</div><div class="l">AI 独立解决率', page)
    assert re.search(r'<div class="v">10.0 分钟</div><div class="l">人工首次响应（中位数）', page)
    assert re.search(r'<div class="v">4,000.0</div><div class="l">每万名客户投诉', page)
    for label in ("VIP 客户", "长尾客户", "微信", "周组长组", "未分组"):
        assert f"<th>{label}</th>" in page
    for code in ("long_tail", "wechat", "agent_wang", "None", "nan"):
        assert f">{code}<" not in page
    assert refused.status_code == 422 and "提交的内容有误" in refused.text


def test_the_api_gives_supervisors_the_months_kpis_and_funnels_and_agents_nothing(engine):
    with Session(engine, expire_on_commit=False) as s:
        dataset.build(s)
        create_user(s, username="lead01", password=PASSWORD, role="team_lead", display_name="周晓燕")
        create_user(s, username="agent01", password=PASSWORD, role="agent", display_name="孙悦")
        s.commit()
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        def bearer(username: str) -> dict:
            token = http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
            return {"Authorization": f"Bearer {token['access_token']}"}

        lead, agent = bearer("lead01"), bearer("agent01")
        kpis = http.get("/api/v1/quality/kpis", params={"month": "2026-11"}, headers=lead)
        funnels = http.get("/api/v1/quality/funnels", params={"month": "2026-11"}, headers=lead)
        denied = http.get("/api/v1/quality/kpis", params={"month": "2026-11"}, headers=agent)
        bad = http.get("/api/v1/quality/kpis", params={"month": "November"}, headers=lead)
    assert kpis.status_code == 200 and kpis.json()["overall"]["complaints"] == 2
    assert {r["label"] for r in kpis.json()["slices"]["tier"]} >= {"VIP 客户", "长尾客户"}
    chat = next(f for f in funnels.json() if f["journey"] == "chat_to_resolution")
    assert chat["label"] == "咨询到解决" and [s["reached"] for s in chat["steps"]] == [9, 8, 7]
    assert denied.status_code == 403
    assert bad.status_code == 422 and "2026-11" in bad.text
