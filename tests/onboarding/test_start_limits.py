"""The per-IP limit on starting account openings, as the operations and risk desks expect it: a
script starting applications in bulk from one address is stopped with a Chinese 429 (page and
API, declared in the OpenAPI), another address is not affected, an applicant already started can
still resume, refused starts do not count, and the count is one row in the database that every
server process shares."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.onboarding.applicants import PASSWORD

from brokercare.api import create_app
from brokercare.core.database import session_scope
from brokercare.onboarding import journey
from brokercare.onboarding import service as opening
from brokercare.onboarding.models import StartQuota
from brokercare.security import auth

PHONES = [f"1390001{n:04d}" for n in range(30)]


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def start(client: TestClient, phone: str):
    return client.post("/api/v1/openings", json={"phone": phone, "password": PASSWORD})


def test_the_sixth_application_from_one_address_in_an_hour_is_refused_in_chinese(engine):
    app = create_app()
    with TestClient(app, client=("36.112.8.21", 50000)) as script, \
            TestClient(app, client=("120.229.45.7", 50000)) as neighbour:
        started = [start(script, phone) for phone in PHONES[:5]]
        refused = start(script, PHONES[5])
        other = start(neighbour, PHONES[6])  # another address is not affected
        resumed = script.post("/api/v1/openings/resume", json={"phone": PHONES[0], "password": PASSWORD})
        schema = script.get("/openapi.json").json()
    assert [r.status_code for r in started] == [201] * 5
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"
    assert refused.json()["detail"].startswith("您所在的网络在 1 小时内发起的开户申请已达 5 份上限，请稍后再试。")
    assert "继续开户" in refused.json()["detail"]
    assert other.status_code == 201
    assert resumed.status_code == 200  # an application already started is not held up
    declared = schema["paths"]["/api/v1/openings"]["post"]["responses"]
    assert "429" in declared and "source IP" in declared["429"]["description"]


def test_starts_refused_for_bad_input_do_not_count(engine):
    with TestClient(create_app(), client=("58.34.101.9", 50000)) as client:
        typos = [client.post("/api/v1/openings", json={"phone": "1390001", "password": PASSWORD}) for _ in range(8)]
        good = [start(client, phone) for phone in PHONES[:5]]
    assert {r.status_code for r in typos} == {422}
    assert [r.status_code for r in good] == [201] * 5


def test_the_daily_limit_holds_across_hours_and_the_hour_starts_again(engine, monkeypatch):
    """Five an hour, twenty a day: after four full hours from one office address the fifth hour's
    first start is refused by the daily limit; the hourly window itself starts again each hour."""
    clock = {"now": journey.utcnow()}
    monkeypatch.setattr(journey, "utcnow", lambda: clock["now"])
    outcomes = []
    with TestClient(create_app(), client=("183.6.200.18", 50000)) as office:
        for hour in range(5):
            clock["now"] += timedelta(hours=1, minutes=1) if hour else timedelta(0)
            for k in range(5 if hour < 4 else 1):
                outcomes.append((hour, start(office, PHONES[hour * 5 + k]).status_code))
        refused = start(office, PHONES[25])
    assert [code for _, code in outcomes[:20]] == [201] * 20
    assert outcomes[20] == (4, 429) and refused.status_code == 429
    assert "24 小时内发起的开户申请已达 20 份上限" in refused.json()["detail"]


def test_the_count_is_shared_by_every_process(engine):
    """Two server processes are two sessions on one database: the sixth start is refused whichever
    process takes it, and the address itself is not stored."""
    for k in range(5):
        with session_scope() as process:
            opening.start(process, phone=PHONES[k], password=PASSWORD, ip="27.38.12.200")
    with pytest.raises(opening.TooManyStarts), session_scope() as other_process:
        opening.start(other_process, phone=PHONES[5], password=PASSWORD, ip="27.38.12.200")
    with session_scope() as s:
        rows = s.scalars(select(StartQuota)).all()
    assert sorted((r.period, r.used) for r in rows) == [("day", 5), ("hour", 5)]
    assert all("27.38" not in r.ip_hash for r in rows)


def test_the_page_tells_the_applicant_in_chinese(engine):
    with TestClient(create_app(), client=("101.226.4.6", 50000)) as browser:
        for phone in PHONES[:6]:
            browser.get("/open/again")
            browser.get("/open")
            page = browser.post("/open", data={"phone": phone, "password": PASSWORD, "confirm": PASSWORD,
                                               "csrftoken": browser.cookies.get("csrftoken", "")})
    assert page.status_code == 429
    assert "您所在的网络在 1 小时内发起的开户申请已达 5 份上限" in page.text
