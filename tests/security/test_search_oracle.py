"""The search oracle: probing one character at a time for what the mask hides."""

from __future__ import annotations

from sqlalchemy import select

from brokercare.customers.search import SEARCHES_PER_MINUTE
from brokercare.ledger.models import LedgerEntry

from .conftest import login


def _ids(client, headers, q: str) -> list[int]:
    r = client.get("/api/v1/customers", params={"q": q}, headers=headers)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


def test_masked_characters_cannot_be_recovered_by_probing(client, session, brokerage):
    agent = login(client, "agent01")
    zhang = brokerage["zhang"]
    assert _ids(client, agent, "张伟") == [zhang.id]  # the full name finds the customer
    for probe in ("张", "伟", "张*", "C000000", "0000001", "1381234567"):
        assert _ids(client, agent, probe) == [], probe  # parts find nothing
    entries = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "customer.searched")).all()
    assert len(entries) == 7
    assert all("张" not in e.body and "1381234567" not in e.body for e in entries)


def test_searches_are_rate_limited_per_member_of_staff(client, brokerage):
    agent, manager = login(client, "agent01"), login(client, "customer_manager01")
    for n in range(SEARCHES_PER_MINUTE):
        assert client.get("/api/v1/customers", params={"q": f"1381234{n:04d}"}, headers=agent).status_code == 200
    refused = client.get("/api/v1/customers", params={"q": "13812345678"}, headers=agent)
    assert refused.status_code == 429 and "过于频繁" in refused.json()["detail"]
    assert refused.headers["retry-after"] == "60"
    assert _ids(client, manager, "13812345678") == [brokerage["zhang"].id]  # others are not held up
