"""Customers of a branch whose profiles the engagement rules read: real rows, profiles computed
by the customers domain's own code (no mocks)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session
from tests.monitoring.brokerage import add_account, add_customer, add_instruments, hold

from brokercare.core.calendar import SHANGHAI
from brokercare.customers.models import BehaviourEvent
from brokercare.customers.service import refresh_profile
from brokercare.security.service import create_user

PASSWORD = "Passw0rd2026"


def manager(session: Session, username: str, name: str) -> int:
    return create_user(session, username=username, password=PASSWORD, role="customer_manager",
                       display_name=name).id


def customer(session: Session, n: int, name: str, *, manager_id: int | None, cash: str,
             holdings: tuple[tuple[str, int], ...] = (), born: date = date(1978, 5, 20),
             searches: tuple[str, ...] = ()) -> int:
    """A customer with one cash account, the holdings given, recent searches, and the stored
    profile the nightly batch would write."""
    c = add_customer(session, n)
    c.name, c.manager_id, c.birth_date = name, manager_id, born
    account = add_account(session, c, cash=cash)
    for symbol, qty in holdings:
        hold(session, account, symbol, qty, "30.00")
    now = datetime.now(SHANGHAI)
    session.add_all(BehaviourEvent(customer_id=c.id, occurred_at=now - timedelta(days=5 + k), kind="search", query=q)
                    for k, q in enumerate(searches))
    session.flush()
    refresh_profile(session, c.id)
    return c.id


def branch(session: Session) -> dict:
    """陈思远 reads about study abroad with no US-dollar assets (over 1 million); 刘洋 keeps half
    a million idle in cash; 周敏 holds shares and does nothing that calls for a lead."""
    add_instruments(session)
    wang = manager(session, "cm_wang", "王经理")
    zhao = manager(session, "cm_zhao", "赵经理")
    ids = {
        "chen": customer(session, 1, "陈思远", manager_id=wang, cash="300000", holdings=(("600519.SH", 500),),
                         searches=("孩子留学 美国研究生费用", "雅思培训", "海外院校申请条件")),
        "liu": customer(session, 2, "刘洋", manager_id=zhao, cash="500000"),
        "zhou": customer(session, 3, "周敏", manager_id=wang, cash="2000", holdings=(("000001.SZ", 3000),)),
    }
    session.commit()
    return {**ids, "wang": wang, "zhao": zhao}


def bearer(client, username: str) -> dict:
    """The Authorization header of ``username``'s API token (password :data:`PASSWORD`)."""
    token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}
