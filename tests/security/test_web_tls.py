"""Behind a TLS-terminating proxy: Secure cookies and HSTS, but only when the proxy is trusted."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from brokercare.api import create_app
from brokercare.core.settings import reset_settings

from .conftest import PASSWORD


def _login(client: TestClient, headers: dict):
    page = client.get("/login", headers=headers)
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    return client.post("/login", headers=headers, follow_redirects=False,
                       data={"username": "agent01", "password": PASSWORD, "csrftoken": token})


@pytest.mark.parametrize("trusted", [True, False])
def test_secure_cookies_and_hsts_behind_a_trusted_proxy_only(engine, brokerage, monkeypatch, trusted):
    monkeypatch.setenv("BROKERCARE_TRUSTED_PROXIES", "*" if trusted else "10.0.0.1")
    reset_settings()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with TestClient(create_app(), base_url="http://broker.example.cn") as client:
        r = _login(client, forwarded)
    assert r.status_code == 303, r.text
    cookies = r.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("brokercare_session="))
    assert "HttpOnly" in session_cookie
    assert ("Secure" in session_cookie) is trusted
    assert ("strict-transport-security" in r.headers) is trusted
    assert r.headers["x-content-type-options"] == "nosniff"


def test_a_login_form_without_the_csrf_token_is_refused_in_chinese(engine, brokerage):
    with TestClient(create_app()) as client:
        client.get("/login")
        r = client.post("/login", data={"username": "agent01", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and "请求来源不可信" in r.text
    assert r.headers["content-type"].startswith("text/html")


def test_the_access_log_keeps_no_searched_identifiers(engine, brokerage, caplog):
    import logging

    from brokercare.web.protection import AccessLogPrivacy

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5050", "GET", "/workbench/customers?q=13812345678", "1.1", 200), None)
    assert AccessLogPrivacy().filter(record)
    assert "13812345678" not in record.getMessage() and "q=***" in record.getMessage()
    record.args = ("127.0.0.1:5050", "GET", "/api/v1/customers/by-id/110105199003071239", "1.1", 404)
    AccessLogPrivacy().filter(record)
    assert "110105199003071239" not in record.getMessage()
