"""The assistant API with real logins, and the optional LLM against a local fake endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.relationships import serve

from brokercare.api import create_app
from brokercare.assistant import service
from brokercare.core.settings import reset_settings
from brokercare.security import auth
from brokercare.security.service import create_user

PASSWORD = "Passw0rd2026"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def client(engine, session, brokerage):
    create_user(session, username="wangfang", password=PASSWORD, role="customer", display_name="王芳",
                customer_id=brokerage["wang"].id)
    agent = create_user(session, username="agent01", password=PASSWORD, role="agent", display_name="坐席一号")
    session.commit()
    serve(session, agent, brokerage["zhao"].id)  # agent01 answers 赵强's conversation
    with TestClient(create_app()) as c:
        yield c


def _login(client, username):
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_analyze_and_reply_endpoints(client, brokerage):
    assert client.post("/api/v1/assistant/analyze", json={"text": "两融怎么开"}).status_code == 401
    me = _login(client, "wangfang")
    r = client.post("/api/v1/assistant/analyze", json={"text": "中签了钱不够咋办，T+2要缴款"}, headers=me)
    assert r.status_code == 200
    body = r.json()
    assert body["intent"] == "ipo_payment" and len(body["intents"]) == 3
    assert any(e["kind"] == "date" and e["text"] == "T+2" for e in body["entities"])
    r = client.post("/api/v1/assistant/reply", json={"text": "我的维持担保比例多少"}, headers=me)
    assert r.status_code == 200
    body = r.json()
    assert body["handoff"] and body["guard"]["passed"] and "126.7%" in body["text"]
    # A customer cannot ask about someone else.
    r = client.post("/api/v1/assistant/reply", json={"text": "我的持仓", "customer_id": brokerage["zhao"].id},
                    headers=me)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    agent = _login(client, "agent01")
    r = client.post("/api/v1/assistant/reply", json={"text": "我的账户为什么冻结了", "customer_id": brokerage["zhao"].id},
                    headers=agent)
    assert r.status_code == 200 and r.json()["handoff"]
    r = client.post("/api/v1/assistant/reply", json={"text": "你好"}, headers=agent)
    assert r.status_code == 422
    r = client.post("/api/v1/assistant/analyze", json={"text": ""}, headers=agent)
    assert r.status_code == 422


class _FakeLLM(BaseHTTPRequestHandler):
    answer = ""
    calls: list = []

    def do_POST(self):  # the name http.server calls
        length = int(self.headers.get("Content-Length", 0))
        _FakeLLM.calls.append(json.loads(self.rfile.read(length)))
        if _FakeLLM.answer == "<500>":
            self.send_response(500)
            self.end_headers()
            return
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": _FakeLLM.answer}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_llm(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("BROKERCARE_LLM_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("BROKERCARE_LLM_MODEL", "qwen2.5-7b-instruct")
    monkeypatch.setenv("BROKERCARE_LLM_TIMEOUT_S", "2")
    reset_settings()
    _FakeLLM.calls = []
    yield _FakeLLM
    server.shutdown()
    server.server_close()


def test_llm_draft_is_used_when_it_passes_the_guard(session, brokerage, fake_llm):
    fake_llm.answer = "印花税只在卖出时收取，税率是成交金额的0.05%，买入不收。"
    r = service.reply(session, brokerage["sun"].id, "印花税怎么收")
    assert r.drafted_by == "llm" and r.text.startswith("印花税只在卖出时收取")
    sent = fake_llm.calls[0]
    assert sent["model"] == "qwen2.5-7b-instruct"
    assert "0.05%" in sent["messages"][1]["content"]  # the templated reply and KB answer were given to it


def test_llm_promise_is_blocked_and_the_template_is_sent(session, brokerage, fake_llm):
    fake_llm.answer = "放心，这个产品保本保收益，稳赚不赔！"
    r = service.reply(session, brokerage["sun"].id, "现金理财的收益是多少")
    assert r.drafted_by == "template"
    assert "稳赚不赔" not in r.text and r.guard.passed


def test_llm_failure_falls_back(session, brokerage, fake_llm):
    fake_llm.answer = "<500>"
    r = service.reply(session, brokerage["sun"].id, "印花税怎么收")
    assert r.drafted_by == "template" and "0.05%" in r.text


def test_without_configuration_nothing_calls_out(session, brokerage, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no network call expected")

    monkeypatch.setattr(httpx.Client, "post", refuse)
    r = service.reply(session, brokerage["sun"].id, "印花税怎么收")
    assert r.drafted_by == "template"
