"""Each role lands where its work is after logging in (issue 14 item 7): the risk desk on alerts and
margin calls, customer managers on their leads and tasks, compliance on the audit of data reads,
agents and team leads on the conversation queue, customers on their own page."""

from __future__ import annotations

from .conftest import PASSWORD


def test_each_role_lands_where_its_work_is(client, session, brokerage):
    landings = {}
    for username in ("risk01", "customer_manager01", "agent01", "team_lead01", "zhangwei"):
        r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
        landings[username] = r.headers["location"]
        client.cookies.clear()
    assert landings == {"risk01": "/workbench/alerts", "customer_manager01": "/workbench/leads",
                        "agent01": "/workbench", "team_lead01": "/workbench", "zhangwei": "/me"}
