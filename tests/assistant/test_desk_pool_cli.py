"""The knowledge owner's and operator's side of the desk pool: `brokercare nlu pool / label /
retrain / models / rollback`, `brokercare kb gaps`, the FAQ-gaps API and the weekly job."""

from __future__ import annotations

import json

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.assistant.test_api_llm import PASSWORD, _login
from typer.testing import CliRunner

from brokercare.api import create_app
from brokercare.assistant import pool
from brokercare.assistant.pool import DeskSignal
from brokercare.cli import app
from brokercare.core.domains import domain_jobs
from brokercare.security import auth
from brokercare.security.service import create_user

UNANSWERED = ["科创板的股票可以用融券卖出吗", "科创板能融券做空吗", "港股通的股票分红要交多少税",
              "港股通分红扣税比例是多少"]


def _fill_pool(session):
    for i, text in enumerate(UNANSWERED):
        pool.record(session, DeskSignal("no_kb_answer", text, proposed_label="margin_open", message_id=10 + i))
    pool.record(session, DeskSignal("wrong_intent", "场内基金和场外基金买卖有啥不一样", proposed_label="trading_rules",
                                    label="fund_trade", by_user_id=5, message_id=30))
    pool.record(session, DeskSignal("low_csat", "新股中签了钱不够会怎么样", proposed_label="ipo_result",
                                    csat_score=1, message_id=31))
    session.commit()


def test_the_operator_reviews_the_pool_retrains_and_rolls_back(engine, session):
    _fill_pool(session)
    runner = CliRunner()
    shown = runner.invoke(app, ["nlu", "pool", "--unlabelled"])
    assert shown.exit_code == 0, shown.output
    assert "wrong_intent" in shown.output and "新股中签了钱不够会怎么样" in shown.output
    assert "场内基金" not in shown.output  # already labelled
    waiting = pool.rows(session, source="low_csat")[0]
    assert runner.invoke(app, ["nlu", "label", str(waiting.id), "中签缴款"]).exit_code == 2  # a label, not a name
    confirmed = runner.invoke(app, ["nlu", "label", str(waiting.id), "ipo_payment", "--user-id", "5"])
    assert confirmed.exit_code == 0, confirmed.output

    out = runner.invoke(app, ["nlu", "retrain", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert (result["outcome"], result["version"], result["active"], result["pool_rows"]) == ("promoted", "v1", "v1", 2)
    listed = runner.invoke(app, ["nlu", "models", "--json"])
    models = json.loads(listed.output)
    assert models["active"] == "v1" and models["versions"][0]["status"] == "promoted"
    assert models["versions"][0]["metrics"]["candidate"]["macro_f1"] > 0.8
    table = runner.invoke(app, ["nlu", "models"])
    assert "promoted" in table.output and "v1" in table.output
    back = runner.invoke(app, ["nlu", "rollback"])
    assert back.exit_code == 0 and "builtin is active again" in back.output
    again = runner.invoke(app, ["nlu", "rollback"])
    assert again.exit_code == 2 and "nothing to roll" in again.output
    assert runner.invoke(app, ["nlu", "pool", "--source", "wrong"]).exit_code == 2


def test_the_weekly_job_is_declared_and_the_gaps_reach_the_knowledge_owner(engine, session):
    _fill_pool(session)
    assert "assistant.weekly_retrain" in domain_jobs()
    out = CliRunner().invoke(app, ["kb", "gaps", "--json"])
    assert out.exit_code == 0, out.output
    found = json.loads(out.output)
    assert [g["asked"] for g in found] == [2, 2]
    assert {frozenset(g["examples"]) for g in found} == {frozenset(UNANSWERED[:2]), frozenset(UNANSWERED[2:])}
    plain = CliRunner().invoke(app, ["kb", "gaps"])
    assert "2×" in plain.output and "also:" in plain.output


@pytest.fixture
def client(engine, session, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    create_user(session, username="lead01", password=PASSWORD, role="team_lead", display_name="周组长")
    create_user(session, username="agent01", password=PASSWORD, role="agent", display_name="坐席一号")
    _fill_pool(session)
    with TestClient(create_app()) as c:
        yield c


def test_the_team_lead_reads_the_faq_gaps_and_an_agent_may_not(client):
    r = client.get("/api/v1/assistant/faq-gaps?days=7", headers=_login(client, "lead01"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["days"] == 7 and len(body["gaps"]) == 2 and body["gaps"][0]["asked"] == 2
    assert client.get("/api/v1/assistant/faq-gaps", headers=_login(client, "agent01")).status_code == 403
    assert client.get("/api/v1/assistant/faq-gaps?days=0", headers=_login(client, "lead01")).status_code == 422
