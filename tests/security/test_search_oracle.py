"""The search oracle: probing one character at a time for what the mask hides."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from brokercare.core.database import make_engine, utcnow
from brokercare.customers.models import SearchQuota
from brokercare.customers.search import SEARCHES_PER_MINUTE, TooManySearches, search_customers
from brokercare.ledger.models import LedgerEntry
from brokercare.web.sessions import COOKIE

from .conftest import PASSWORD, login


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


def _searches_in_another_process(url: str, user_id: int, count: int) -> list[str]:
    """What a second server process answers ``count`` searches of the same member of staff."""
    from brokercare.security.models import User

    engine = make_engine(url)
    out = []
    try:
        for n in range(count):
            with Session(engine) as s:
                try:
                    search_customers(s, f"1370000{n:04d}", searcher=s.get(User, user_id))
                    s.commit()
                    out.append("ok")
                except TooManySearches:
                    s.rollback()
                    out.append("refused")
    finally:
        engine.dispose()
    return out


def test_the_limit_is_shared_by_every_server_process(engine, session, brokerage):
    """Two server processes share one count: 20 searches in another process, then 20 here, leave
    the agent refused after 30 in all, not 60; a new minute starts afresh."""
    agent = brokerage["users"]["agent"]
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        there = pool.apply(_searches_in_another_process, (engine.url.render_as_string(hide_password=False),
                                                          agent.id, 20))
    assert there == ["ok"] * 20
    here = []
    for n in range(20):
        try:
            search_customers(session, f"1390000{n:04d}", searcher=agent)
            session.commit()
            here.append("ok")
        except TooManySearches:
            session.rollback()
            here.append("refused")
    assert here == ["ok"] * (SEARCHES_PER_MINUTE - 20) + ["refused"] * (40 - SEARCHES_PER_MINUTE)
    session.execute(update(SearchQuota).values(window_start=utcnow() - timedelta(seconds=61)))  # a minute on
    session.commit()
    search_customers(session, "13900000000", searcher=agent)
    session.commit()
    session.expire_all()
    assert session.get(SearchQuota, agent.id).used == 1


def test_the_search_page_says_what_a_row_matched_on(client, brokerage):
    """A customer number finds 张伟 "按客户号"; one character of a name finds nobody, and the page
    says searches match whole identifiers, instead of listing 罗** and 王* with no reason."""
    token = client.post("/api/v1/auth/token", data={"username": "agent01", "password": PASSWORD})
    client.cookies.set(COOKIE, token.json()["access_token"])
    found = client.get("/workbench/customers", params={"q": "C0000001"}).text
    assert "按客户号精确匹配" in found and "C0000001" in found
    nothing = client.get("/workbench/customers", params={"q": "林"}).text
    assert "按姓名全名精确匹配：共 0 位客户" in nothing and "不支持部分字符" in nothing
