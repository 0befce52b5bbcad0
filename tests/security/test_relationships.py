"""Staff reach a customer's holdings, balances, plans and settings only through a relationship,
and every read is ledgered once per request — written as the attacks of issue 13 (agent01 asking
the assistant about a stranger's holdings, an advisor raising a stranger's risk level, a manager
changing another manager's customer's alerts, an agent opening a customer page outside any
conversation, compliance reading without a reason, an administrator reading at all)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from tests.advisory.test_questionnaire import STEADY
from tests.monitoring.brokerage import add_instruments, hold
from tests.relationships import serve

from brokercare.accounts.models import Account
from brokercare.customers.service import assign_staff
from brokercare.ledger.models import LedgerEntry
from brokercare.risk.models import RiskCase
from brokercare.security.crypto import blind_index
from brokercare.security.models import AccessRead
from brokercare.security.service import create_user
from brokercare.service.models import AgentProfile
from brokercare.web.sessions import COOKIE

from .conftest import PASSWORD, login


@pytest.fixture
def holdings(session, brokerage):
    """张伟 holds 贵州茅台 and 招商银行 in his cash account; 李娜 holds nothing."""
    add_instruments(session)
    account = session.scalar(select(Account).where(Account.customer_id == brokerage["zhang"].id))
    hold(session, account, "600519.SH", 200, "1400.00")
    hold(session, account, "600036.SH", 1000, "30.00")
    session.commit()
    return account


def access_entries(session) -> list[dict]:
    session.expire_all()
    bodies = session.scalars(select(LedgerEntry.body).where(LedgerEntry.kind == "access.read")
                             .order_by(LedgerEntry.id))
    return [json.loads(b)["data"] for b in bodies]


def page_cookie(client, username: str) -> None:
    token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    client.cookies.set(COOKIE, token.json()["access_token"])


def test_agent_cannot_ask_the_assistant_about_a_strangers_holdings(client, session, brokerage, holdings):
    agent = login(client, "agent01")
    ask = {"customer_id": brokerage["zhang"].id, "text": "我现在持仓怎么样？"}
    refused = client.post("/api/v1/assistant/reply", json=ask, headers=agent)
    assert refused.status_code == 403 and "没有服务关系" in refused.json()["detail"]
    assert "万元" not in refused.text and "贵州茅台" not in refused.text
    assert client.post("/api/v1/assistant/reply", json=ask, headers=login(client, "admin01")).status_code == 403

    conv = serve(session, brokerage["users"]["agent"], brokerage["zhang"].id)
    answered = client.post("/api/v1/assistant/reply", json=ask, headers=agent)
    assert answered.status_code == 200 and "贵州茅台" in answered.json()["text"]
    [entry] = access_entries(session)
    [read] = entry["reads"]
    assert entry["user_id"] == brokerage["users"]["agent"].id and read["customer_id"] == brokerage["zhang"].id
    assert read["relationship"] == "serving_conversation" and read["reference"] == f"conversation:{conv.id}"
    assert "assistant:portfolio" in read["what"]

    conv.status = "closed"  # the relationship lasts as long as the conversation
    session.commit()
    assert client.post("/api/v1/assistant/reply", json=ask, headers=agent).status_code == 403


def test_staff_asking_the_assistant_never_move_the_customers_money(client, session, brokerage, holdings):
    serve(session, brokerage["users"]["agent"], brokerage["zhang"].id)
    r = client.post("/api/v1/assistant/reply", headers=login(client, "agent01"),
                    json={"customer_id": brokerage["zhang"].id, "text": "帮我转出5000元到银行卡"})
    text = r.json()["text"]
    # Neither a proposal to confirm nor a refusal to carry it out: staff get the transfer status only.
    assert r.status_code == 200 and "请确认" not in text and "办理不了" not in text, text


def test_advisor_cannot_change_a_strangers_risk_level(client, session, brokerage):
    advisor = brokerage["users"]["advisor"]
    zid = brokerage["zhang"].id
    raised = client.post(f"/api/v1/advisory/customers/{zid}/risk-assessments",
                         headers=login(client, "advisor01"), json={"answers": STEADY})
    assert raised.status_code == 403
    session.expire_all()
    assert session.get(type(brokerage["zhang"]), zid).risk_level is None

    assign_staff(session, zid, advisor_id=advisor.id)
    session.commit()
    done = client.post(f"/api/v1/advisory/customers/{zid}/risk-assessments",
                       headers=login(client, "advisor01"), json={"answers": STEADY})
    assert done.status_code == 200, done.text
    [entry] = access_entries(session)
    assert entry["user_id"] == advisor.id
    assert entry["reads"][0]["relationship"] == "assigned_advisor"
    assert entry["reads"][0]["what"] == ["risk_assessment.submit"]


def test_manager_cannot_change_another_managers_customers_alert_settings(client, session, brokerage):
    mine, theirs = brokerage["zhang"], brokerage["li"]
    manager01 = brokerage["users"]["customer_manager"]
    manager02 = create_user(session, username="manager02", password=PASSWORD, role="customer_manager",
                            display_name="周强")
    assign_staff(session, mine.id, manager_id=manager01.id)
    assign_staff(session, theirs.id, manager_id=manager02.id)
    session.commit()
    headers = login(client, "customer_manager01")
    changed = client.put(f"/api/v1/monitoring/customers/{theirs.id}/preferences", headers=headers,
                         json={"move_pct": 0.02})
    assert changed.status_code == 403
    assert client.get(f"/api/v1/monitoring/customers/{theirs.id}/preferences", headers=headers).status_code == 403
    own = client.put(f"/api/v1/monitoring/customers/{mine.id}/preferences", headers=headers,
                     json={"move_pct": 0.02})
    assert own.status_code == 200, own.text
    assert [e["reads"][0]["relationship"] for e in access_entries(session)] == ["customer_manager"]


def test_agent_cannot_open_a_customer_page_outside_a_conversation(client, session, brokerage, holdings):
    zid = brokerage["zhang"].id
    page_cookie(client, "agent01")
    refused = client.get(f"/workbench/customers/{zid}")
    assert refused.status_code == 403 and "没有服务关系" in refused.text
    assert "贵州茅台" not in refused.text and "资产规模" not in refused.text

    serve(session, brokerage["users"]["agent"], brokerage["zhang"].id)
    shown = client.get(f"/workbench/customers/{zid}")
    assert shown.status_code == 200 and "贵州茅台" in shown.text and "资产规模" in shown.text
    [entry] = access_entries(session)  # a whole page of holdings, AUM and margin: one entry
    assert entry["reads"][0]["relationship"] == "serving_conversation"


def test_administrators_read_no_customer_data(client, session, brokerage, holdings):
    admin = login(client, "admin01")
    for url in (f"/api/v1/accounts/{holdings.id}/positions", f"/api/v1/customers/{brokerage['zhang'].id}/accounts",
                f"/api/v1/advisory/customers/{brokerage['zhang'].id}/goals",
                f"/api/v1/monitoring/customers/{brokerage['zhang'].id}/alerts"):
        r = client.get(url, headers=admin)
        assert r.status_code == 403 and "系统管理员不能查看客户数据" in r.json()["detail"], url
    assert access_entries(session) == []


def test_each_allowed_read_is_one_ledger_entry_with_its_relationship(client, session, brokerage, holdings):
    zid = brokerage["zhang"].id
    risk = login(client, "risk01")
    assert client.get(f"/api/v1/accounts/{holdings.id}/positions", headers=risk).status_code == 403
    case = RiskCase(subject=f"customer:{zid}", customer_id=zid, kind="transfer_out", status="open", priority=80,
                    summary="异常大额转出")
    session.add(case)
    session.commit()
    positions = client.get(f"/api/v1/accounts/{holdings.id}/positions", headers=risk)
    assert positions.status_code == 200 and {p["symbol"] for p in positions.json()} == {"600519.SH", "600036.SH"}
    balances = client.get(f"/api/v1/customers/{zid}/accounts", headers=risk)
    assert balances.status_code == 200 and balances.json()[0]["cash_balance"] == "1000.00"

    entries = access_entries(session)
    assert len(entries) == 2  # one per request
    assert [e["reads"][0]["what"] for e in entries] == [[f"positions:{holdings.id}"], ["balances"]]
    assert {e["reads"][0]["relationship"] for e in entries} == {"risk_case"}
    assert {e["reads"][0]["reference"] for e in entries} == {f"risk_case:{case.id}"}
    assert session.scalar(select(func.count()).select_from(AccessRead)) == 2


def test_a_managers_customer_page_is_one_ledger_entry_with_the_personal_data_in_it(client, session, brokerage,
                                                                                   holdings):
    """The manager opens 张伟's page: holdings and his phone number (shown whole to managers) are read
    in one request, so one access.read entry carries both, with the phone's keyed hash, not the
    number; no separate pii.read entry."""
    zid = brokerage["zhang"].id
    assign_staff(session, zid, manager_id=brokerage["users"]["customer_manager"].id)
    session.commit()
    page_cookie(client, "customer_manager01")
    page = client.get(f"/workbench/customers/{zid}")
    assert page.status_code == 200 and "13812345678" in page.text and "贵州茅台" in page.text
    [entry] = access_entries(session)
    [read] = entry["reads"]
    assert read["relationship"] == "customer_manager" and "customer360" in read["what"]
    assert "pii.phone" in read["what"]
    assert read["pii"]["value_hmacs"]["phone"] == blind_index("13812345678")
    assert read["pii"]["revealed_on_request"] is False
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "pii.read")) == 0
    body = session.scalar(select(LedgerEntry.body).where(LedgerEntry.kind == "access.read"))
    assert "13812345678" not in body


def test_compliance_without_a_reason_is_refused(client, session, brokerage, holdings):
    zid = brokerage["zhang"].id
    compliance = login(client, "compliance01")
    refused = client.get(f"/api/v1/accounts/{holdings.id}/positions", headers=compliance)
    assert refused.status_code == 403 and "理由" in refused.json()["detail"]
    assert client.get(f"/api/v1/accounts/{holdings.id}/positions?reason=好", headers=compliance).status_code == 403
    page_cookie(client, "compliance01")
    page = client.get(f"/workbench/customers/{zid}")
    assert page.status_code == 403 and 'name="reason"' in page.text

    reason = "核查投诉工单T20261205"
    allowed = client.get(f"/api/v1/accounts/{holdings.id}/positions", params={"reason": reason}, headers=compliance)
    assert allowed.status_code == 200
    [entry] = access_entries(session)
    assert entry["reads"][0] == {"customer_id": zid, "relationship": "compliance_review", "reference": None,
                                 "what": [f"positions:{holdings.id}"], "why": reason}


def test_compliance_sees_reads_per_customer_and_per_staff_with_inclusion_proofs(client, session, brokerage,
                                                                                 holdings):
    zid = brokerage["zhang"].id
    agent = brokerage["users"]["agent"]
    serve(session, agent, brokerage["zhang"].id)
    headers = login(client, "agent01")
    for _ in range(2):
        assert client.get(f"/api/v1/accounts/{holdings.id}/positions", headers=headers).status_code == 200
    compliance = login(client, "compliance01")
    assert client.get(f"/api/v1/security/access-reads?customer_id={zid}", headers=headers).status_code == 403

    by_customer = client.get(f"/api/v1/security/access-reads?customer_id={zid}", headers=compliance).json()
    by_staff = client.get(f"/api/v1/security/access-reads?user_id={agent.id}", headers=compliance).json()
    assert by_customer == by_staff and len(by_customer) == 2
    for read in by_customer:
        assert read["verified"] is True and read["relationship"] == "serving_conversation"
        assert read["proof"]["index"] == read["ledger_index"] and read["proof"]["audit_path"]

    page_cookie(client, "compliance01")
    page = client.get(f"/workbench/access-reads?customer_id={zid}")
    assert page.status_code == 200 and page.text.count("已核验") == 2 and "正在服务的会话" in page.text
    assert f"持仓 #{holdings.id}" in page.text and "positions:" not in page.text  # read as people name it
    page_cookie(client, "agent01")
    assert client.get(f"/workbench/access-reads?customer_id={zid}").status_code == 403


def test_an_agent_cannot_read_another_agents_conversation(client, session, brokerage, holdings):
    agent04 = create_user(session, username="agent04", password=PASSWORD, role="agent", display_name="吴婷")
    session.commit()
    conv = serve(session, agent04, brokerage["zhang"].id)
    conv.handoff_summary = {"text": "大众客户经app渠道咨询「持仓诊断」。涉及持仓：贵州茅台 600519.SH 200 股。"}
    session.commit()
    agent01 = login(client, "agent01")
    assert client.get(f"/api/v1/service/conversations/{conv.id}/messages", headers=agent01).status_code == 403
    listed = client.get("/api/v1/service/conversations", headers=agent01).json()
    assert [c["handoff_summary"] for c in listed if c["id"] == conv.id] == [None]  # no holdings by the list
    assert client.get(f"/api/v1/service/conversations/{conv.id}", headers=agent01).json()["handoff_summary"] is None
    assert "贵州茅台" in client.get(f"/api/v1/service/conversations/{conv.id}",
                                headers=login(client, "agent04")).json()["handoff_summary"]["text"]
    page_cookie(client, "agent01")
    page = client.get(f"/workbench/conversations/{conv.id}")
    assert page.status_code == 403 and "没有服务关系" in page.text and "回复客户" not in page.text
    assert client.get(f"/workbench/conversations/{conv.id}/thread").status_code == 403

    page_cookie(client, "agent04")
    own = client.get(f"/workbench/conversations/{conv.id}")
    assert own.status_code == 200 and "回复客户" in own.text and "贵州茅台" in own.text
    assert client.get(f"/workbench/conversations/{conv.id}/thread").status_code == 200
    *_, entry = access_entries(session)  # the page once; its two-second refreshes are not ledgered again
    assert set(entry["reads"][0]["what"]) == {f"conversation:{conv.id}", "customer360"}
    assert len(access_entries(session)) == 2  # agent04's API read of the conversation, then the page


def test_similar_cases_in_the_summary_show_only_to_staff_who_may_read_the_thread(client, session, brokerage,
                                                                                holdings):
    """The hand-off summary's similar resolved cases (issue 15 item 2) are part of the summary: the
    agent serving the conversation reads them in plain Chinese, another agent gets the refusal."""
    agent04 = create_user(session, username="agent04", password=PASSWORD, role="agent", display_name="吴婷")
    session.commit()
    conv = serve(session, agent04, brokerage["zhang"].id)
    case = {"ticket_no": "TK20260826000012", "subject": "追保与平仓：维持担保比例跌破130%被要求补充担保物",
            "resolution": "已致电张*说明须在T+2日前追加担保物或卖出还款，客户补足后已恢复。", "similarity": 0.931}
    conv.handoff_summary = {"text": "大众客户经App渠道咨询「维持担保比例」。相似案例：TK20260826000012「…」→ 处理：…。",
                            "intent": "margin_ratio", "similar_cases": [case]}
    session.commit()
    page_cookie(client, "agent01")
    refused = client.get(f"/workbench/conversations/{conv.id}")
    assert refused.status_code == 403 and "TK20260826000012" not in refused.text and "相似" not in refused.text
    page_cookie(client, "agent04")
    own = client.get(f"/workbench/conversations/{conv.id}")
    assert own.status_code == 200 and 'id="similar-cases"' in own.text and "相似的已解决案例" in own.text
    assert "工单 TK20260826000012：追保与平仓：维持担保比例跌破130%被要求补充担保物" in own.text
    assert "当时的处理：已致电张*说明" in own.text and "相似度 93%" in own.text and "margin_ratio" not in own.text


def test_a_team_lead_supervises_their_teams_conversations_and_the_queue(client, session, brokerage, holdings):
    """周海燕 leads 吴婷's team: she reads the conversation 吴婷 is serving (and the read is ledgered
    as supervision); a lead of another team does not; a chat waiting in the queue is open to any lead,
    who may take it."""
    agent04 = create_user(session, username="agent04", password=PASSWORD, role="agent", display_name="吴婷")
    create_user(session, username="lead02", password=PASSWORD, role="team_lead", display_name="郑凯")
    session.add(AgentProfile(user_id=agent04.id, skills=["trading"], team_lead_id=brokerage["users"]["team_lead"].id))
    session.commit()
    conv = serve(session, agent04, brokerage["zhang"].id)
    lead = login(client, "team_lead01")
    assert client.get(f"/api/v1/service/conversations/{conv.id}/messages", headers=lead).status_code == 200
    assert access_entries(session)[-1]["reads"][0]["relationship"] == "supervising_team"
    assert client.get(f"/api/v1/service/conversations/{conv.id}/messages",
                      headers=login(client, "lead02")).status_code == 403

    conv.status, conv.assigned_agent_id, conv.waiting_since = "waiting", None, conv.assigned_at
    session.commit()
    assert client.get(f"/api/v1/service/conversations/{conv.id}/messages",
                      headers=login(client, "lead02")).status_code == 200
