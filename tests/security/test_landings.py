"""Each role lands where its work is after logging in (issue 14 item 7): the risk desk on alerts and
margin calls, customer managers on their leads and tasks, compliance on the audit of data reads,
agents and team leads on the conversation queue, customers on their own page."""

from __future__ import annotations

from brokercare.security.grants import request_grant
from brokercare.security.service import create_user

from .conftest import PASSWORD


def test_each_role_lands_where_its_work_is(client, session, brokerage):
    landings = {}
    for username in ("risk01", "customer_manager01", "agent01", "team_lead01", "admin01", "zhangwei"):
        r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
        landings[username] = r.headers["location"]
        client.cookies.clear()
    assert landings == {"risk01": "/workbench/alerts", "customer_manager01": "/workbench/leads",
                        "agent01": "/workbench", "team_lead01": "/workbench", "admin01": "/workbench/admin",
                        "zhangwei": "/me"}


def test_the_admin_page_has_logins_grants_keys_and_jobs_in_chinese(client, session, brokerage):
    """admin01 asked for agent01 to become compliance; a second admin (admin02) approves it on the
    page. The page lists staff logins, the data keys and the day's jobs by their Chinese names, and
    no customer; a team lead may not open it."""
    admin2 = create_user(session, username="admin02", password=PASSWORD, role="admin", display_name="钱立")
    grant = request_grant(session, brokerage["users"]["agent"], "compliance", by_user_id=brokerage["users"]["admin"].id)
    session.commit()
    page_login(client, "admin02")
    page = client.get("/workbench/admin")
    assert page.status_code == 200
    for text in ("待审批的权限授予", "合规专员", "agent01", "数据密钥", "客户收盘日报", "交易日 15:10", "盘后"):
        assert text in page.text, text
    assert "张伟" not in page.text and "zhangwei" not in page.text  # staff only, no customer
    token = page.text.split('name="csrftoken" value="')[1].split('"')[0]
    done = client.post(f"/workbench/admin/grants/{grant.id}/approve", data={"csrftoken": token},
                       follow_redirects=False)
    assert done.status_code == 303
    session.expire_all()
    assert session.get(type(grant), grant.id).status == "approved" and admin2.role == "admin"
    assert brokerage["users"]["agent"].role == "compliance"
    client.cookies.clear()
    page_login(client, "team_lead01")
    refused = client.get("/workbench/admin", follow_redirects=False)
    assert refused.status_code == 403 and "仅限系统管理员" in refused.text


def page_login(client, username: str) -> None:
    client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)


def test_the_admin_page_shows_a_jobs_warning(client, session, brokerage):
    """The valuation warnings job on a day its shipped index data does not reach: the run says so,
    and the admin reads it beside the job rather than a silent 成功."""
    from datetime import date

    from brokercare.core import scheduler

    outcome = scheduler.run_now("engagement.valuation_warnings", date(2026, 12, 4), force=True)
    assert outcome.status == "succeeded"
    page_login(client, "admin01")
    page = client.get("/workbench/admin").text
    row = page[page.index("<td>估值高位提醒<br>"):].split("</tr>")[0]
    assert "有警告" in row and "<code" in row
