"""The first day at the desk, the rest (issue 14 items 8, 13, 14) in a real browser (Debian's
Chromium via Playwright) on a generated demo brokerage: the demo customers read their own alerts and
credit account, the margin customer's plan reckons with the debt, a goal is set on the web, the
risk desk lists one row per open call, and controls keep their words on one line at desktop and
phone widths. Screenshots: test-output/screenshots/firstday-*.png.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.web.conftest import served_demo, shot
from tests.web.test_browser import CUSTOMER_PASSWORD, STAFF_PASSWORD, customer_id_of, login

PHONE = {"width": 390, "height": 844}

#: Finds controls (buttons, links styled as buttons, table headers, badges) whose text wraps one
#: character per line: rendered taller than two lines of their own text while holding 2+ characters.
WRAPPED = """() => [...document.querySelectorAll('button, .button, .badge, th, nav a')]
  .filter(e => e.offsetParent !== null && e.innerText.trim().length >= 2 && e.innerText.trim().length <= 8)
  .filter(e => { const lh = parseFloat(getComputedStyle(e).lineHeight) || parseFloat(getComputedStyle(e).fontSize) * 1.3;
                 const pad = parseFloat(getComputedStyle(e).paddingTop) + parseFloat(getComputedStyle(e).paddingBottom);
                 return e.getBoundingClientRect().height - pad > lh * 1.8; })
  .map(e => e.innerText.trim())"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A 300-customer demo brokerage, every domain's demo history, served on a loopback port."""
    yield from served_demo(tmp_path_factory, "firstday-data")


@pytest.fixture(autouse=True)
def _isolated_settings():
    """The scenarios share the module's brokerage (its data dir and master key)."""
    yield


def test_the_demo_customers_read_their_own_alerts_and_credit_account(browser, platform):
    """demo_margin and demo_mass each find an alert about a stock they hold (the demo's modelled
    morning, evaluated by the engine); demo_margin also sees the state of the credit account."""
    from brokercare.accounts.service import positions_of
    from brokercare.monitoring.models import Alert

    for username in ("demo_margin", "demo_mass"):
        cid = customer_id_of(platform, username)
        with Session(platform.engine) as s:
            held = {p.name for p in positions_of(s, cid)}
            titles = s.scalars(select(Alert.title).where(Alert.customer_id == cid)).all()
        assert titles, f"{username} has no alert of their own"
        context, page = login(browser, platform, username, CUSTOMER_PASSWORD)
        page.goto(f"{platform.url}/me/alerts")
        cards = page.locator("section.card .card strong").all_inner_texts()
        assert any(any(name in title for name in held) and "下跌" in title for title in cards), cards
        if username == "demo_margin":
            state = page.locator("#margin-state").inner_text()
            assert "维持担保比例" in state and "警戒线 140%" in state and "融资融券负债" in state
        shot(page, f"firstday-{username}-alerts")
        context.close()


def test_the_margin_customer_plans_around_the_debt_and_sets_a_goal(browser, platform):
    """The plan says what the margin debt means for it; sizes come from the large-cap list, not the
    board; a goal set on the page is projected at once, and a wrong one is refused in Chinese."""
    from brokercare.accounts.service import positions_of
    from brokercare.advisory.proposals import large_caps

    context, page = login(browser, platform, "demo_margin", CUSTOMER_PASSWORD)
    page.goto(f"{platform.url}/me/plans")
    advice = page.locator("section.card").first.inner_text()
    assert "融资融券负债" in advice and "留出" in advice
    from brokercare.advisory.service import rebalance_advice

    with Session(platform.engine) as s:  # 广百股份、东方证券 on the main board are not large caps
        cid = customer_id_of(platform, "demo_margin")
        held = [p for p in positions_of(s, cid) if p.kind in ("stock", "etf")]
        current = rebalance_advice(s, cid).current
    if held and not any(p.symbol in large_caps() for p in held) and all(p.kind == "stock" for p in held):
        assert current["large_cap"] == 0 and current["small_cap"] > 0
    assert "逐步降低" not in advice or "这次没有卖出" in advice
    page.select_option("select[name=kind]", "education")
    page.fill("input[name=target_amount]", "")
    page.fill("input[name=target_date]", "2034-09-01")
    page.click("#goal-form button[type=submit]")
    page.locator("#goal-form .error", has_text="请填写目标金额").wait_for(timeout=10_000)
    page.fill("input[name=target_amount]", "600000")
    page.fill("input[name=current_value]", "100000")
    page.fill("input[name=monthly]", "3000")
    page.click("#goal-form button[type=submit]")
    saved = page.locator("#goal-saved")
    saved.wait_for(timeout=20_000)
    assert "已保存目标“子女教育金”" in saved.inner_text() and "达成的可能性约为" in saved.inner_text()
    assert page.locator("section.card .card strong", has_text="子女教育金").count() == 1
    assert "达成概率" in page.locator("section.card").nth(1).inner_text()
    shot(page, "firstday-plans-goal-set")
    context.close()

    context, page = login(browser, platform, "demo_margin", CUSTOMER_PASSWORD, viewport=PHONE)
    page.goto(f"{platform.url}/me/plans")
    assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 0
    if page.locator("table.responsive").count():
        labels = page.evaluate("""() => [...document.querySelectorAll('table.responsive tbody tr:first-child td')]
            .map(td => getComputedStyle(td, '::before').content)""")
        assert any("操作" in x for x in labels) and any("金额" in x for x in labels), labels
    assert page.evaluate(WRAPPED) == []
    shot(page, "firstday-plans-phone")
    context.close()


def test_the_risk_desk_lists_each_open_call_once_by_customer(browser, platform):
    from brokercare.monitoring.models import MarginCall

    with Session(platform.engine) as s:
        contracts = s.scalar(select(func.count(func.distinct(MarginCall.contract_id)))
                             .where(MarginCall.status == "open"))
        calls = s.scalar(select(func.count()).select_from(MarginCall).where(MarginCall.status == "open"))
    assert calls == contracts  # the demo settled a contract's older calls
    context, page = login(browser, platform, "risk01", STAFF_PASSWORD)
    page.goto(f"{platform.url}/workbench/alerts")
    body = page.inner_text("body")
    assert "实时预警" not in body and "最近预警" in body
    rows = page.locator("section.card").nth(1).locator("tbody tr").count()
    assert rows == max(contracts, 1)
    assert "#" not in page.locator("section.card").first.locator("tbody").inner_text()
    shot(page, "firstday-risk-desk")
    context.close()


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 900}, PHONE], ids=["desktop", "phone"])
def test_no_control_wraps_one_character_per_line(browser, platform, viewport):
    """更/新, 查/询: every button, badge, table header and menu link keeps its words on one line
    on the pages people use most; the KPI page fits 1366 px."""
    pages = {"lead01": ("/workbench", "/workbench/tickets", "/workbench/kpi", "/workbench/customers?q=林"),
             "risk01": ("/workbench/alerts",), "demo_mass": ("/me", "/me/alerts", "/me/plans", "/me/risk")}
    found = []
    for username, paths in pages.items():
        password = CUSTOMER_PASSWORD if username.startswith("demo_") else STAFF_PASSWORD
        context, page = login(browser, platform, username, password, viewport=viewport)
        for path in paths:
            page.goto(f"{platform.url}{path}")
            page.wait_for_load_state("networkidle")
            found += [f"{username} {path}: {t!r}" for t in page.evaluate(WRAPPED)]
            overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                found.append(f"{username} {path}: scrolls sideways by {overflow}px")
            if path == "/workbench/kpi":
                shot(page, f"firstday-kpi-{viewport['width']}")
        context.close()
    assert found == [], "\n".join(found)
