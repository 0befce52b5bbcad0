"""The service desk in a real browser (Debian's Chromium via Playwright), on the same generated
demo brokerage as test_browser.py: who is at the desk, whose conversation it is, the suggestion
following the customer, refusals shown in Chinese. Screenshots: test-output/screenshots/desk-*.png.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from tests.web.conftest import served_demo, shot
from tests.web.test_browser import CUSTOMER_PASSWORD, STAFF_PASSWORD, customer_id_of, login


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A 300-customer demo brokerage, every domain's demo history, served on a loopback port."""
    yield from served_demo(tmp_path_factory, "desk-data")


@pytest.fixture(autouse=True)
def _isolated_settings():
    """The scenarios share the module's brokerage (its data dir and master key)."""
    yield


# --- the service desk: who is there, whose conversation it is, errors on the page -------------------

def _quiet_desk(platform, *usernames):
    """Nobody at the desk and nothing waiting; the given customers' threads closed."""
    from brokercare.security.service import get_user_by_username
    from brokercare.service import agents, desk
    from brokercare.service import service as hub

    desk._heartbeats.clear()  # the server runs in this process: its heartbeat memory too
    with Session(platform.engine, expire_on_commit=False) as s:
        agents.whole_team(s, at_desk=False)
        for conv in hub.waiting_queue(s):
            hub.close_conversation(s, conv.id, by_user_id=None)
        for name in usernames:
            for conv in hub.history_of_customer(s, get_user_by_username(s, name).customer_id, limit=5):
                if conv.status != "closed":
                    hub.close_conversation(s, conv.id, by_user_id=None)
        s.commit()


def _latest_conversation(platform, username: str):
    from brokercare.service.service import history_of_customer

    with Session(platform.engine, expire_on_commit=False) as s:
        return history_of_customer(s, customer_id_of(platform, username), limit=1)[0]


@pytest.fixture
def desk_open(monkeypatch):
    """The desk's hours are not what these scenarios are about: open whenever the suite runs."""
    from brokercare.core.settings import reset_settings

    monkeypatch.setenv("BROKERCARE_DESK_ALWAYS_OPEN", "1")
    reset_settings()
    yield
    monkeypatch.delenv("BROKERCARE_DESK_ALWAYS_OPEN")
    reset_settings()


def test_a_chat_waits_for_an_agent_at_the_desk_who_hands_it_to_a_colleague(browser, platform, desk_open):
    """Nobody is logged in: the complaint waits (no “接入人工服务” to nobody). 吴婷 logs in and gets
    it; 陈晓明 sees it is hers, with 请求转交 instead of a reply box; she hands it over; his empty
    reply and his reply after the team lead stepped in are refused in Chinese on the page."""
    _quiet_desk(platform, "demo_margin")
    cctx, customer = login(browser, platform, "demo_margin", CUSTOMER_PASSWORD)
    customer.fill("#chat-input", "你们系统太差了！！昨天的委托一直没成交，亏了好几千，我要投诉！")
    customer.click("#chat-form button[type=submit]")
    customer.locator(".msg", has_text="排队").last.wait_for(timeout=15_000)
    conv = _latest_conversation(platform, "demo_margin")
    assert conv.status == "waiting" and "已为您接入" not in customer.locator("#thread").inner_text()

    wctx, wu = login(browser, platform, "agent04", STAFF_PASSWORD)  # back at the desk: the chat is hers
    customer.locator(".msg", has_text="已为您接入人工服务：吴婷").wait_for(timeout=15_000)

    actx, chen = login(browser, platform, "agent01", STAFF_PASSWORD)
    chen.goto(f"{platform.url}/workbench/conversations/{conv.id}")
    assert "由 吴婷 接待中" in chen.locator("#owner").inner_text()
    assert chen.locator("#reply").count() == 0
    assert chen.get_by_role("button", name="发送").count() == 0
    assert chen.get_by_role("button", name="结束会话").count() == 0
    chen.get_by_role("button", name="请求转交").click()
    chen.locator(".notice", has_text="已向 吴婷 发送转交请求").wait_for(timeout=10_000)
    shot(chen, "desk-another-agents-conversation")

    wu.goto(f"{platform.url}/workbench/conversations/{conv.id}")
    wu.get_by_role("button", name="转交给 陈晓明").click()
    wu.wait_for_url(f"{platform.url}/workbench", timeout=10_000)
    customer.locator(".msg", has_text="已为您接入人工服务：陈晓明").wait_for(timeout=15_000)

    chen.goto(f"{platform.url}/workbench/conversations/{conv.id}")
    assert "由您接待中" in chen.locator("#owner").inner_text()
    # The customer writes again: the thread, the analysis and the suggested reply follow at once.
    analysed, suggested = chen.locator("#analysis").inner_text(), chen.locator("#suggestion").inner_text()
    customer.fill("#chat-input", "我的信用账户担保比例现在是多少？")
    customer.click("#chat-form button[type=submit]")
    chen.locator("#thread .msg.customer", has_text="担保比例现在是多少").wait_for(timeout=15_000)
    chen.wait_for_function("b => document.getElementById('analysis').innerText !== b", arg=analysed, timeout=30_000)
    assert "担保比例现在是多少" in chen.locator("#analysis").inner_text()
    chen.wait_for_function("s => document.getElementById('suggestion').innerText !== s", arg=suggested, timeout=30_000)
    new_suggestion = chen.locator("#suggestion .suggested").inner_text()
    assert "担保比例" in new_suggestion, chen.locator("#suggestion").inner_html()
    assert chen.input_value("#reply") == new_suggestion
    shot(chen, "desk-suggestion-follows-the-customer")
    chen.fill("#reply", "")
    chen.get_by_role("button", name="发送").click()
    error = chen.locator(".form-error")
    error.filter(has_text="回复内容不能为空").wait_for(timeout=10_000)

    from brokercare.security.service import get_user_by_username
    from brokercare.service.service import take_over

    with Session(platform.engine) as s:  # the team lead steps in meanwhile
        take_over(s, conv.id, get_user_by_username(s, "lead01"))
        s.commit()
    chen.fill("#reply", "您好，我是陈晓明，正在为您查询委托记录。")
    chen.get_by_role("button", name="发送").click()
    error.filter(has_text="这个会话由其他坐席接待中").wait_for(timeout=10_000)
    assert "{" not in error.inner_text() and "\"detail\"" not in chen.content()  # no JSON on the page
    shot(chen, "desk-refusal-in-chinese")
    for ctx in (cctx, wctx, actx):
        ctx.close()


def test_the_team_lead_sees_who_is_at_the_desk_and_the_chat_waiting_too_long(browser, platform, desk_open):
    from datetime import timedelta

    from brokercare.service.models import Conversation

    _quiet_desk(platform, "demo_mass")
    actx, chen = login(browser, platform, "agent01", STAFF_PASSWORD)
    chen.get_by_role("button", name="退出").click()  # logged out: away at once
    cctx, customer = login(browser, platform, "demo_mass", CUSTOMER_PASSWORD)
    customer.fill("#chat-input", "你好，帮我转人工客服")
    customer.click("#chat-form button[type=submit]")
    customer.locator(".msg", has_text="排队").last.wait_for(timeout=15_000)
    conv = _latest_conversation(platform, "demo_mass")
    with Session(platform.engine) as s:  # ten minutes in the queue
        s.get(Conversation, conv.id).waiting_since -= timedelta(minutes=10)
        s.commit()

    lctx, lead = login(browser, platform, "lead01", STAFF_PASSWORD)
    lead.goto(f"{platform.url}/workbench")
    team = lead.locator("#team")
    assert team.locator("tr[data-agent=agent01]").inner_text().split()[1] == "离开"
    assert team.locator("tr[data-agent=lead01]").inner_text().split()[1] in ("在线", "忙碌")
    assert team.locator("tr[data-agent=agent02]").inner_text().split()[1] == "离开"
    row = lead.locator(f"tr[data-conversation='{conv.id}']")  # account service: not taken on her arrival
    assert "超时" in row.inner_text() and "请协助接入" in row.inner_text()  # a lead may take any late chat
    assert lead.locator("#overdue-count").inner_text() == "超时等待 1"
    shot(lead, "desk-team-lead-queue")
    for ctx in (actx, cctx, lctx):
        ctx.close()
