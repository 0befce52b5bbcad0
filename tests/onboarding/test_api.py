"""The account-opening API (``/api/v1/openings``) as an app would call it, on SQLite and PostgreSQL:
the token of a started application carries every step; bad input is a Chinese 4xx with nothing
written; the back office's queue is for compliance and the risk desk only."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.onboarding.applicants import ANSWERS, PASSWORD, Applicant, card, wang

from brokercare.api import create_app
from brokercare.customers.models import Customer
from brokercare.onboarding import service as opening
from brokercare.security.service import create_user

STAFF = "Fengkong-2026!"


def identity_files(a: Applicant) -> dict:
    return {"id_card": ("id.png", a.id_card(), "image/png"), "selfie": ("selfie.png", a.selfie(), "image/png")}


def identity_form(a: Applicant) -> dict:
    return {"name": a.name, "id_number": a.id_number, "address": a.address, "occupation": a.occupation}


def go_through(client: TestClient, a: Applicant, answers: dict = ANSWERS) -> tuple[str, dict]:
    r = client.post("/api/v1/openings", json={"phone": a.phone, "password": PASSWORD})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    h = {"X-Opening-Token": token}
    r = client.post("/api/v1/openings/current/identity", headers=h, data=identity_form(a), files=identity_files(a))
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/openings/current/questionnaire", headers=h, json={"answers": answers})
    assert r.json()["standing"]["next_step"] == "agreements", r.text
    texts = client.get("/api/v1/openings/current/agreements", headers=h).json()
    r = client.post("/api/v1/openings/current/agreements", headers=h, json={"signed": {t["code"]: t["sha256"] for t in texts}})
    assert r.json()["standing"]["next_step"] == "bank", r.text
    r = client.post("/api/v1/openings/current/bank", headers=h, json={"bank": a.bank, "card_no": a.card_no})
    assert r.json()["standing"]["next_step"] == "submit", r.text
    r = client.post("/api/v1/openings/current/submit", headers=h)
    assert r.status_code == 200, r.text
    return token, r.json()


def test_an_app_opens_an_account_step_by_step(engine):
    with TestClient(create_app()) as client:
        _, done = go_through(client, wang())
        assert done["state"] == "opened" and done["account_no"].startswith("10")
        assert done["customer_seconds"] is not None
        r = client.post("/api/v1/auth/token", data={"username": wang().phone, "password": PASSWORD})
        assert r.status_code == 200  # the new customer logs in


def test_bad_input_is_a_chinese_4xx_and_writes_nothing(engine, session):
    a = wang()
    with TestClient(create_app()) as client:
        r = client.post("/api/v1/openings", json={"phone": "12345", "password": PASSWORD})
        assert r.status_code == 422 and "手机号" in r.json()["detail"]
        token = client.post("/api/v1/openings", json={"phone": a.phone, "password": PASSWORD}).json()["token"]
        h = {"X-Opening-Token": token}
        bad = {**identity_form(a), "id_number": a.id_number[:17] + ("1" if a.id_number[17] != "1" else "2")}
        r = client.post("/api/v1/openings/current/identity", headers=h, data=bad, files=identity_files(a))
        assert r.status_code == 422 and "身份证号码校验未通过" in r.json()["detail"]
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
        r = client.post("/api/v1/openings/current/bank", headers=h, json={"bank": "工商银行", "card_no": a.card_no})
        assert r.status_code == 409 and "填写身份信息" in r.json()["detail"]  # says where to continue
        r = client.get("/api/v1/openings/current", headers={"X-Opening-Token": "not-a-token"})
        assert r.status_code == 401 and "继续开户" in r.json()["detail"]
        r = client.post("/api/v1/openings/resume", json={"phone": a.phone, "password": "Wrong-2026!"})
        assert r.status_code == 401


def test_the_review_queue_is_for_the_back_office(engine, session):
    create_user(session, username="risk07", password=STAFF, role="risk", display_name="风控周敏")
    create_user(session, username="agent07", password=STAFF, role="agent", display_name="坐席小王")
    session.commit()
    elder = Applicant("陈桂兰", "13711112222", date(1950, 8, 2), region="310104", sequence="248",
                      address="上海市徐汇区漕溪北路88号", occupation="退休", card_no=card("623456", 19))
    with TestClient(create_app()) as client:
        _, waiting = go_through(client, elder, {**ANSWERS, "age": "F"})
        assert waiting["state"] == "in_review" and waiting["account_no"] is None

        def bearer(username):
            t = client.post("/api/v1/auth/token", data={"username": username, "password": STAFF}).json()["access_token"]
            return {"Authorization": f"Bearer {t}"}

        assert client.get("/api/v1/openings/reviews", headers=bearer("agent07")).status_code == 403
        desk = bearer("risk07")
        queue = client.get("/api/v1/openings/reviews", headers=desk).json()
        assert [q["application_no"] for q in queue] == [waiting["application_no"]]
        assert {r["code"] for r in queue[0]["reasons"]} == {"age", "bin_unknown"}
        r = client.post(f"/api/v1/openings/{waiting['application_no']}/reject", headers=desk, json={"note": ""})
        assert r.status_code == 422  # a rejection needs its reason
        r = client.post(f"/api/v1/openings/{waiting['application_no']}/approve", headers=desk,
                        json={"note": "已电话回访"})
        assert r.status_code == 200 and r.json()["state"] == "opened"
    assert opening.waiting_count(session) == 0
