"""投资学堂 and 社区 in a real browser (Debian's Chromium via Playwright) against the real platform
on SQLite: a new customer reads the anti-fraud article, takes the quiz and sees each answer
marked with its explanation, joins 新手训练营, posts a question (published) and a stock tip (held
by the compliance guard, with the reason, visible to her only); the host reviews it in the
workbench and rejects it, and she reads why. Screenshots go to test-output/screenshots.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session
from tests.engagement.people import customer
from tests.module_platform import migrated_sqlite
from tests.monitoring.brokerage import add_instruments
from tests.web.conftest import LiveServer, shot
from tests.web.test_browser import login as login_as

PASSWORD = "Kehu-2026-xue"
TIP = "明天这只票必涨，建议大家马上买入，稳赚不赔！"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """An empty brokerage: 林小雨, who opened her account today with 2万 in cash, and 刘洋, the
    customer manager hosting 新手训练营 (login manager01)."""
    from brokercare.api import create_app
    from brokercare.customers.models import Customer
    from brokercare.customers.service import refresh_profile
    from brokercare.security.service import create_user

    with migrated_sqlite(tmp_path_factory, "learn-web") as engine:
        with Session(engine) as s:
            add_instruments(s)
            liu = create_user(s, username="manager01", password=PASSWORD, role="customer_manager",
                              display_name="刘洋").id
            cid = customer(s, 1, "林小雨", manager_id=liu, cash="20000")
            row = s.get(Customer, cid)
            row.opened_on, row.risk_level = date.today(), "C2"
            s.flush()
            refresh_profile(s, cid)
            create_user(s, username="linxiaoyu", password=PASSWORD, role="customer", display_name="林小雨",
                        customer_id=cid)
            s.commit()
        with LiveServer(create_app()) as server:
            server.engine = engine
            yield server


@pytest.fixture(autouse=True)
def _isolated_settings():
    """The scenario shares the module's platform (its data dir and master key)."""
    yield


def login(browser, platform, username: str, *, viewport=None):
    return login_as(browser, platform, username, PASSWORD, viewport=viewport)


def test_a_customer_reads_takes_the_quiz_and_posts_one_post_is_held(browser, platform):
    from brokercare.engagement.library import library

    context, page = login(browser, platform, "linxiaoyu", viewport={"width": 414, "height": 896})
    page.click("text=投资学堂")
    page.wait_for_load_state("networkidle")
    first = page.locator("#recommended .learn-row").first
    assert "识别诈骗App" in first.inner_text() and "推荐理由：您刚开户不久" in first.inner_text()
    assert "沉睡" not in page.content()
    assert "已完成 0 项" in page.locator("#completion").inner_text()
    shot(page, "learn-01-recommended")

    first.locator("a").click()
    page.wait_for_load_state("networkidle")
    article = page.locator("#content").inner_text()
    assert "五个破绽，一眼识别" in article and "96110" in article and "第三方存管" in article
    page.click("text=我已读完")
    page.wait_for_load_state("networkidle")
    assert "您已学完这一篇" in page.locator("#content").inner_text()
    shot(page, "learn-02-article-read")

    page.click("text=做个小测验")
    page.wait_for_load_state("networkidle")
    quiz = library().get("quiz-fraud")
    for n, q in enumerate(quiz.questions):  # the last one wrong: she passes with 3 of 4
        choice = q.answer if n < len(quiz.questions) - 1 else (q.answer + 1) % len(q.options)
        page.check(f"input[name=q{n}][value='{choice}']")
    page.click("#quiz button[type=submit]")
    page.wait_for_load_state("networkidle")
    result = page.locator("#result").inner_text()
    assert "恭喜通过" in result and "本次答对 3/4 题" in result
    assert "回答错误" in result and "解析：“解冻费”“保证金”是骗子的二次收割" in result
    shot(page, "learn-03-quiz-marked")

    page.goto(f"{platform.url}/me/community")
    starter = page.locator(".community-card", has_text="新手训练营")
    assert "主持人：刘洋" in starter.inner_text() and "您刚开户不久" in starter.inner_text()
    starter.locator("button", has_text="加入").click()
    page.wait_for_load_state("networkidle")
    page.fill("#new-post textarea", "刚开户，想问问新股中签以后哪天要把钱准备好？")
    page.click("#new-post button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.fill("#new-post textarea", TIP)
    page.click("#new-post button[type=submit]")
    page.wait_for_load_state("networkidle")
    posts = page.locator("#posts").inner_text()
    assert "刚开户，想问问新股中签以后哪天要把钱准备好？" in posts and "林**" in posts
    held = page.locator("article.post", has_text=TIP)
    assert "待主持人审核" in held.inner_text()
    assert "仅您自己可见：帖子中有承诺收益或保本的说法" in held.inner_text() and "荐股" in held.inner_text()
    shot(page, "learn-04-community-post-held")

    host_context, host = login(browser, platform, "manager01")
    host.click("text=社区审核")
    host.wait_for_load_state("networkidle")
    row = host.locator("#held tr", has_text=TIP)
    assert "新手训练营" in row.inner_text() and "林**" in row.inner_text()
    assert "帖子中有承诺收益或保本的说法" in row.inner_text()
    shot(host, "learn-05-host-held")
    row.locator("input[name=note]").fill("请不要在社区推荐具体股票或承诺收益。")
    row.locator("button", has_text="不予发布").click()
    host.wait_for_load_state("networkidle")
    assert "没有待审核的帖子" in host.locator("#held").inner_text()
    shot(host, "learn-06-host-reviewed")
    host_context.close()

    page.reload()
    rejected = page.locator("article.post", has_text=TIP)
    assert "未通过审核" in rejected.inner_text() and "请不要在社区推荐具体股票或承诺收益。" in rejected.inner_text()
    page.goto(f"{platform.url}/me/learn")
    assert "已完成 2 项" in page.locator("#completion").inner_text()
    shot(page, "learn-07-progress")
    context.close()
