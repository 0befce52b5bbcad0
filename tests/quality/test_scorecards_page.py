"""The scorecards page as the desk uses it: a team lead reads the team's month, draws closed
conversations for review, opens one (and only while it waits for review) and fills in the form;
the agent reads only their own card; errors read in Chinese."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session
from tests.quality import dataset
from tests.web.conftest import LiveServer

from brokercare.api import create_app
from brokercare.security.auth import hash_password
from brokercare.security.models import User

PASSWORD = "Zhijian-2026!"


def _build(engine) -> dict[str, int]:
    with Session(engine, expire_on_commit=False) as s:
        desk = dataset.build(s)
        s.execute(update(User).values(password_hash=hash_password(PASSWORD)))
        s.commit()
        return {k: c.id for k, c in desk.conversations.items()}


def _token(page: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', page).group(1)


def test_a_team_lead_reviews_a_sampled_conversation_from_the_page(engine):
    conv = _build(engine)
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        http.post("/login", data={"username": "lead_zhou", "password": PASSWORD})
        before = http.get("/workbench/scorecards?month=2026-11").text
        closed_before = http.get(f"/workbench/conversations/{conv['C']}")
        http.post("/workbench/scorecards/sample", data={"csrftoken": _token(before), "month": "2026-11"})
        page = http.get("/workbench/scorecards?month=2026-11").text
        drawn = [int(x) for x in re.findall(r'action="/workbench/reviews/(\d+)"', page)]
        thread = http.get(f"/workbench/conversations/{conv['C']}")
        half = http.post(f"/workbench/reviews/{conv['C']}",
                         data={"csrftoken": _token(page), "month": "2026-11", "greeting": "5"})
        done = http.post(f"/workbench/reviews/{conv['C']}", data={
            "csrftoken": _token(page), "month": "2026-11", "greeting": "5", "understanding": "4", "accuracy": "3",
            "compliance": "4", "efficiency": "2", "comment": "投诉处理及时，但未说明后续回访时间"})
        after = http.get("/workbench/scorecards?month=2026-11").text
        closed_after = http.get(f"/workbench/conversations/{conv['C']}")
    # 周组长's team: 王敏 and 陈洁, each with their month's figures
    assert "服务计分卡" in before and "王敏" in before and "陈洁" in before and "李经理" not in before
    assert closed_before.status_code == 403  # a closed conversation is not hers to read ...
    assert sorted(drawn) == sorted([conv["A"], conv["C"], conv["E"], conv["G"]])
    assert thread.status_code == 200  # ... until it is drawn for her review
    assert half.status_code == 422 and "请为每一项评分" in half.text
    assert done.status_code == 303 and len(re.findall(r"提交质检", after)) == 3  # three still to review
    assert re.search(r"<th>陈洁</th>.*?72 / 100<br><span class=\"muted\">1 次质检</span>", after, re.S)
    assert f'action="/workbench/reviews/{conv["C"]}"' not in after
    assert closed_after.status_code == 403  # reviewed: the read ends with the review
    for code in ("first_response_median_s", "csat_average", "None", "nan"):
        assert code not in after


def test_an_agent_reads_only_their_own_scorecard(engine):
    _build(engine)
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        http.post("/login", data={"username": "agent_wang", "password": PASSWORD})
        page = http.get("/workbench/scorecards?month=2026-11").text
        draw = http.post("/workbench/scorecards/sample", data={"csrftoken": _token(page), "month": "2026-11"})
        bad_month = http.get("/workbench/scorecards?month=11月")
    with LiveServer(create_app()) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        http.post("/login", data={"username": "mgr_li", "password": PASSWORD})
        manager = http.get("/workbench/scorecards")
    assert "王敏" in page and "陈洁" not in page and "会话质检" not in page
    assert draw.status_code == 403 and "只有团队主管和系统管理员" in draw.text
    assert bad_month.status_code == 422 and "2026-11" in bad_month.text
    assert manager.status_code == 403 and "线索与待办" in manager.text
