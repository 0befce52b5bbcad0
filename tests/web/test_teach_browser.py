"""The desk teaches the assistant, in a real browser (Debian's Chromium via Playwright): an agent
marks the assistant's reading of a customer's message wrong on the conversation page and picks the
right intent by its Chinese name; the mark lands in the assistant's labelled pool under the
agent's name, and so does her reply when she writes her own instead of the suggestion. Screenshot: test-output/screenshots/desk-wrong-intent.png.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from tests.web.conftest import served_demo, shot
from tests.web.test_browser import CUSTOMER_PASSWORD, STAFF_PASSWORD, login
from tests.web.test_desk_browser import _latest_conversation, _quiet_desk


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A 300-customer demo brokerage, every domain's demo history, served on a loopback port."""
    yield from served_demo(tmp_path_factory, "teach-data")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch):
    """The module shares one brokerage (its data dir and master key); the desk is open whenever the
    suite runs."""
    from brokercare.core.settings import reset_settings

    monkeypatch.setenv("BROKERCARE_DESK_ALWAYS_OPEN", "1")
    reset_settings()
    yield
    monkeypatch.delenv("BROKERCARE_DESK_ALWAYS_OPEN")
    reset_settings()


def test_an_agent_marks_the_wrong_intent_on_the_conversation_page(browser, platform):
    from brokercare.assistant import pool
    from brokercare.security.service import get_user_by_username

    _quiet_desk(platform, "demo_margin")
    cctx, customer = login(browser, platform, "demo_margin", CUSTOMER_PASSWORD)
    # Read as a complaint; the agent sees an order that did not fill, which the desk answers first.
    customer.fill("#chat-input", "你们系统太差了！！昨天的委托一直没成交，亏了好几千，我要投诉！")
    customer.click("#chat-form button[type=submit]")
    customer.locator(".msg", has_text="排队").last.wait_for(timeout=15_000)
    wctx, agent = login(browser, platform, "agent04", STAFF_PASSWORD)  # 吴婷 comes to the desk: it is hers
    customer.locator(".msg", has_text="已为您接入人工服务：吴婷").wait_for(timeout=15_000)
    conv = _latest_conversation(platform, "demo_margin")

    agent.goto(f"{platform.url}/workbench/conversations/{conv.id}")
    agent.get_by_text("意图识别有误？").click()
    options = agent.locator("#right-intent option").all_inner_texts()
    assert "委托与成交" in options and "order_status" not in " ".join(options)  # Chinese names, no codes
    agent.select_option("#right-intent", label="委托与成交")
    agent.get_by_role("button", name="标记为识别错误").click()
    agent.locator("#wrong-intent-status .notice", has_text="正确意图是“委托与成交”").wait_for(timeout=10_000)
    shot(agent, "desk-wrong-intent")
    # She answers in her own words instead of the suggestion: the edit is kept for the assistant too.
    suggested = agent.locator("#suggestion .suggested").inner_text()
    agent.fill("#reply", "您好，我是吴婷。我查了您昨天的委托：挂单价低于当时卖一价所以未成交，已自动撤单，我一步步教您改价。")
    agent.get_by_role("button", name="发送").click()
    agent.locator("#thread .msg", has_text="我一步步教您改价").wait_for(timeout=10_000)

    with Session(platform.engine) as s:
        (row,) = pool.rows(s, source="wrong_intent")
        assert row.text == "你们系统太差了！！昨天的委托一直没成交，亏了好几千，我要投诉！"
        assert (row.label, row.proposed_label, row.conversation_id) == ("order_status", "complaint", conv.id)
        wu = get_user_by_username(s, "agent04").id
        assert row.labelled_by_id == wu
        (edit,) = pool.rows(s, source="agent_edit")
        assert edit.text == row.text and edit.labelled_by_id == wu and "改价" in edit.sent_reply
        assert "".join(edit.suggested_reply.split()) == "".join(suggested.split())
    for ctx in (cctx, wctx):
        ctx.close()


def test_the_knowledge_owner_sees_the_questions_the_faq_could_not_answer(browser, platform):
    """Hand-offs the knowledge base had no answer for, grouped by meaning on the team lead's
    知识库缺口 page, the most asked first; an agent may not open it."""
    from brokercare.assistant import service as assistant
    from brokercare.assistant.pool import DeskSignal

    asked = ["APP有没有一键清仓的功能", "你们app能不能一键清仓？", "app上有一键清仓功能吗"]
    with Session(platform.engine) as s:
        for n, text in enumerate([*asked, "外地户口能在上海的营业部办理销户吗"]):
            assistant.learn(s, DeskSignal("no_kb_answer", text, message_id=900_000 + n))
        s.commit()
    lctx, lead = login(browser, platform, "lead01", STAFF_PASSWORD)
    lead.get_by_role("link", name="知识库缺口").click()
    lead.select_option("select[name=days]", label="近 7 天")
    lead.get_by_role("button", name="查看").click()
    row = lead.locator("#faq-gaps tbody tr", has_text="一键清仓").first
    row.wait_for(timeout=10_000)
    assert "3 次" in row.inner_text()
    assert all(a in row.inner_text() for a in asked)  # the representative and the other wordings
    assert lead.locator("#faq-gaps tbody tr", has_text="销户").count() == 1
    shot(lead, "faq-gaps")
    actx, agent = login(browser, platform, "agent04", STAFF_PASSWORD)
    assert agent.goto(f"{platform.url}/workbench/faq-gaps").status == 403
    assert agent.get_by_role("link", name="知识库缺口").count() == 0
    for ctx in (lctx, actx):
        ctx.close()
