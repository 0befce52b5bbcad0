"""The web attacks of issue 13, in Chromium against the real platform served by uvicorn: a form
posted from another origin (another port of the same host: same site, so SameSite=Lax alone lets
the session cookie through), and the reflected XSS of the ticket transition error."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
from sqlalchemy.orm import Session
from tests.module_platform import migrated_sqlite
from tests.web.conftest import LiveServer, shot

PASSWORD = "Gongdan-Kanban-2026"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """The platform with one team lead and one open ticket, on a migrated SQLite database."""
    from brokercare.api import create_app
    from brokercare.security.service import create_user
    from brokercare.service.models import Contact
    from brokercare.service.tickets import create_ticket

    with migrated_sqlite(tmp_path_factory, "attack-data") as engine:
        with Session(engine) as s:
            lead = create_user(s, username="lead01", password=PASSWORD, role="team_lead", display_name="周海燕")
            contact = Contact(kind="prospect", label="微信用户 8d3f")
            s.add(contact)
            s.flush()
            ticket = create_ticket(s, contact_id=contact.id, subject="两融账户维持担保比例疑问",
                                   description="客户询问维持担保比例的计算方法", category="margin",
                                   created_by_id=lead.id)
            s.commit()
            ticket_id = ticket.id
        with LiveServer(create_app()) as server:
            server.engine = engine
            server.ticket_id = ticket_id
            yield server


@pytest.fixture(autouse=True)
def _isolated_settings():
    yield


class Attacker:
    """Another origin (another loopback port) serving one page that auto-submits a form."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _login(browser, platform):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{platform.url}/login")
    page.fill("#username", "lead01")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{platform.url}/workbench")
    return context, page


def _ticket_status(platform) -> str:
    from brokercare.service.models import Ticket

    with Session(platform.engine) as s:
        return s.get(Ticket, platform.ticket_id).status


def test_a_form_posted_from_another_origin_is_refused(browser, platform):
    context, page = _login(browser, platform)
    evil = Attacker(f"""<!doctype html><meta charset="utf-8"><body>
      <form id="f" method="post" action="{platform.url}/workbench/tickets/{platform.ticket_id}/transition">
        <input name="to_status" value="in_progress"></form>
      <script>document.getElementById('f').submit()</script></body>""")
    try:
        with page.expect_response(lambda r: "/transition" in r.url) as info:
            page.goto(evil.url)
        assert info.value.status == 403
        page.wait_for_load_state()
        assert "请求来源不可信" in page.content()
        shot(page, "csrf-refused")
    finally:
        evil.close()
        context.close()
    assert _ticket_status(platform) == "open"


def test_the_ticket_error_shows_a_script_payload_as_text(browser, platform):
    context, page = _login(browser, platform)
    page.goto(f"{platform.url}/workbench/tickets")
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    form = page.locator(f"#ticket-{platform.ticket_id} form")
    form.locator("select").evaluate("(s, v) => { s.options[0].value = v; s.selectedIndex = 0; }", payload)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.evaluate("window.__xss") is None
    assert page.locator("p.error").count() == 1
    text = page.locator("p.error").inner_text()
    assert "<" not in text or payload in text  # shown as text, or replaced by a Chinese sentence
    assert not page.locator("img[src=x]").count()
    shot(page, "ticket-error-escaped")
    context.close()
    assert _ticket_status(platform) == "open"


def test_pages_carry_the_security_headers(browser, platform):
    context, page = _login(browser, platform)
    response = page.goto(f"{platform.url}/workbench/tickets")
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"].split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in headers  # plain HTTP: no HSTS
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{platform.url}/workbench/kpi")
    page.wait_for_selector("#chart-volume[data-rendered=true]")  # the charts run from static/js
    assert violations == []
    context.close()
