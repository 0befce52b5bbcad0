"""The team lead's quality review in Chromium: 周组长 opens 服务计分卡 for November, draws the
team's closed conversations, reads one and fills in the review form; the score appears beside the
agent's figures, and nothing on the page is a raw code."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from tests.module_platform import migrated_sqlite
from tests.quality import dataset
from tests.web.conftest import LiveServer, shot
from tests.web.test_browser import RAW_CODE
from tests.web.test_browser import login as login_as

PASSWORD = "Zhijian-2026!"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """The known November of a small desk (tests/quality/dataset.py), every login with one password."""
    from brokercare.api import create_app
    from brokercare.security.auth import hash_password
    from brokercare.security.models import User

    with migrated_sqlite(tmp_path_factory, "scorecards-web") as engine:
        with Session(engine) as s:
            dataset.build(s)
            s.execute(update(User).values(password_hash=hash_password(PASSWORD)))
            s.commit()
        with LiveServer(create_app()) as server:
            yield server


@pytest.fixture(autouse=True)
def _isolated_settings():
    """The scenario shares the module's platform (its data dir and master key)."""
    yield


def test_a_team_lead_reviews_a_conversation_on_the_scorecards_page(browser, platform):
    context, page = login_as(browser, platform, "lead_zhou", PASSWORD)
    page.goto(f"{platform.url}/workbench/scorecards?month=2026-11")
    assert "王敏" in page.inner_text("#scorecards") and "陈洁" in page.inner_text("#scorecards")
    page.click("text=随机抽取 5 个会话")
    page.wait_for_load_state("networkidle")
    forms = page.locator("form.review-form")
    assert forms.count() == 4  # the team's four closed, human-handled conversations
    first = forms.nth(0)
    agent = first.locator("h3 .muted").inner_text().split("：")[1].split(" ·")[0]
    href = first.locator("h3 a").get_attribute("href")
    thread = context.new_page()
    thread.goto(f"{platform.url}{href}")
    assert thread.locator("#thread .msg.customer").count() >= 1  # the lead reads the customer's words
    thread.close()
    for name, score in (("greeting", "5"), ("understanding", "4"), ("accuracy", "4"), ("compliance", "5"),
                        ("efficiency", "3")):
        first.locator(f"select[name={name}]").select_option(score)
    first.locator("input[name=comment]").fill("解释清楚，提示了风险；可以更快给出处理时限")
    first.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    row = page.locator("#scorecards tr", has_text=agent).inner_text()
    assert "84 / 100" in row and "1 次质检" in row
    assert page.locator("form.review-form").count() == 3
    shot(page, "scorecards-lead-review")
    text = page.evaluate("() => { const b = document.body.cloneNode(true);"
                         " b.querySelectorAll('code, script, style').forEach(e => e.remove());"
                         " return b.innerText; }")
    assert not RAW_CODE.findall(text)
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "scorecards-lead-phone")
    context.close()
