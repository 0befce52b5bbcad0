"""The risk-questionnaire funnel from the customer page: opening it, answering, and the
assessment stored — or answers the questionnaire sends back for clarification."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import httpx
from sqlalchemy.orm import Session
from tests.monitoring.brokerage import add_customer
from tests.web.conftest import LiveServer

from brokercare.api import create_app
from brokercare.core.bus import get_bus
from brokercare.core.calendar import SHANGHAI
from brokercare.quality import journeys
from brokercare.quality import service as quality
from brokercare.security.service import create_user

PASSWORD = "Kehu-2026-test"
# A salaried engineer with a few years of funds and stocks (tests/advisory); age set per customer.
STEADY = dict(age="B", income="C", assets="C", share="C", stability="C", experience="D", products="C",
              knowledge="C", horizon="C", goal="C", max_loss="C", reaction="C", allocation="C")


def fill_in(http: httpx.Client, answers: dict[str, str]) -> httpx.Response:
    http.get("/me/risk")
    form = {f"q_{k}": v for k, v in answers.items()} | {"csrftoken": http.cookies.get("csrftoken", "")}
    return http.post("/me/risk", data=form)


def age_answer(born: date, today: date) -> str:
    """The questionnaire's age bracket, which must agree with the account's birth date."""
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return "ABCDEF"[sum(age > limit for limit in (30, 45, 55, 65, 70))]


def test_one_customer_is_assessed_and_one_is_asked_again(engine):
    today = datetime.now(SHANGHAI).date()
    with Session(engine) as s:
        for no, username in ((1, "kehu_liu"), (2, "kehu_chen")):
            customer = add_customer(s, no)
            create_user(s, username=username, password=PASSWORD, role="customer", display_name=customer.name,
                        customer_id=customer.id)
        age = age_answer(customer.birth_date, today)
        s.commit()
    steady = dict(STEADY, age=age)
    journeys.subscribe(get_bus())  # what the app's start-up does (the test server runs without it)
    with LiveServer(create_app()) as server:
        for username, answers in (("kehu_liu", steady), ("kehu_chen", dict(steady, max_loss="B", goal="E"))):
            with httpx.Client(base_url=server.url, timeout=30) as http:
                http.post("/login", data={"username": username, "password": PASSWORD})
                answered = fill_in(http, answers)
                assert answered.status_code == 200, re.findall(r"class=\"error\"[^<]*>([^<]*)", answered.text)
    start = datetime.combine(today, datetime.min.time(), SHANGHAI)
    with Session(engine) as s:
        f = next(f for f in quality.funnels(s, start, start + timedelta(days=1)) if f.journey == "risk_questionnaire")
    # Both opened and answered; 小陈's "small loss but high growth" goes back for clarification.
    assert f.steps.select("label", "reached").rows() == [("开始测评", 2), ("完成答题", 2), ("提交测评", 1)]
    assert (f.started, f.completed) == (2, 1)
