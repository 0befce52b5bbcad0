"""A ticket carries the customer's case (a hand-off summary names their holdings): the board and
the tickets API show its words only to whom may read the customer — the agent handling it, the
customer's manager — and to other staff only its category, department and state."""

from __future__ import annotations

from sqlalchemy import select

from brokercare.security.models import AccessRead
from brokercare.service import service as hub
from brokercare.service.tickets import create_ticket
from brokercare.web.sessions import COOKIE

from .conftest import PASSWORD, login

CASE = "客户持有贵州茅台200股、宁德时代300股，融资负债15万元，担保比例126%，要求延期追保"


def test_a_ticket_is_read_by_its_handler_not_by_every_agent(client, session, brokerage):
    zhang, handler = brokerage["zhang"], brokerage["users"]["team_lead"]
    contact = hub.contact_of_customer(session, zhang.id, None)
    ticket = create_ticket(session, contact_id=contact.id, subject="追保延期申请：" + CASE[:20], description=CASE,
                           category="margin_liquidation", department="margin", priority="urgent",
                           assignee_id=handler.id)
    session.commit()
    stranger = login(client, "agent01")
    listed = client.get("/api/v1/service/tickets", headers=stranger).json()
    assert listed and all("贵州茅台" not in t["subject"] + t["description"] for t in listed)
    assert client.get(f"/api/v1/service/tickets/{ticket.id}", headers=stranger).json()["description"] != CASE
    own = client.get(f"/api/v1/service/tickets/{ticket.id}", headers=login(client, "team_lead01")).json()
    assert own["description"] == CASE
    read = session.scalars(select(AccessRead).where(AccessRead.customer_id == zhang.id)).all()
    assert [(r.relationship, r.reference, r.what) for r in read] == [("handling_ticket", f"ticket:{ticket.id}", "tickets")]

    token = client.post("/api/v1/auth/token", data={"username": "agent01", "password": PASSWORD}).json()
    client.cookies.set(COOKIE, token["access_token"])
    board = client.get("/workbench/tickets").text
    assert "贵州茅台" not in board and "内容仅经办人及与客户有服务关系的同事可见" in board

