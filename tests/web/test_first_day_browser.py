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


def test_an_agent_on_another_page_is_told_of_a_late_chat(browser, platform, monkeypatch):
    """吴婷 (complaints) is at the desk with her chat slots full, working on the tickets page; a
    complaint has waited past its target: the banner on that page offers it to her, and it takes
    her to the conversation (issue 14 item 2)."""
    from datetime import timedelta

    from tests.web.test_desk_browser import _latest_conversation, _quiet_desk

    from brokercare.core.settings import reset_settings
    from brokercare.security.service import get_user_by_username
    from brokercare.service import service as hub

    monkeypatch.setenv("BROKERCARE_DESK_ALWAYS_OPEN", "1")
    reset_settings()
    _quiet_desk(platform, "demo_mass")
    with Session(platform.engine) as s:
        wu_id = get_user_by_username(s, "agent04").id
        slots = hub.agent_profile(s, wu_id).max_concurrent
        hub.set_agent_profile(s, wu_id, max_concurrent=0)
        s.commit()
    try:
        cctx, customer = login(browser, platform, "demo_mass", CUSTOMER_PASSWORD)
        customer.fill("#chat-input", "你们乱扣我手续费！打了三次电话都没人管，我要投诉！")
        customer.click("#chat-form button[type=submit]")
        customer.locator(".msg", has_text="排队").last.wait_for(timeout=15_000)
        conv = _latest_conversation(platform, "demo_mass")
        assert conv.status == "waiting" and conv.skill == "complaints"
        with Session(platform.engine) as s:  # it has waited past its target
            late = hub.get_conversation(s, conv.id)
            late.waiting_since = late.waiting_since - timedelta(minutes=30)
            s.commit()
        actx, page = login(browser, platform, "agent04", STAFF_PASSWORD)
        page.goto(f"{platform.url}/workbench/tickets")
        banner = page.locator("#late-chat-alert")
        banner.wait_for(timeout=15_000)
        assert "等待超时，请协助接入" in banner.inner_text() and "投诉" in banner.inner_text()
        shot(page, "firstday-late-chat-banner")
        banner.locator(f"a[href='/workbench/conversations/{conv.id}']").click()
        page.wait_for_url(f"{platform.url}/workbench/conversations/{conv.id}", timeout=10_000)
        vctx, other = login(browser, platform, "advisor01", STAFF_PASSWORD)  # not his skill: no banner
        other.goto(f"{platform.url}/workbench/tickets")
        other.wait_for_load_state("networkidle")
        assert other.locator("#late-chat-alert").count() == 0
        for c in (cctx, actx, vctx):
            c.close()
    finally:
        with Session(platform.engine) as s:
            hub.set_agent_profile(s, wu_id, max_concurrent=slots)
            s.commit()
        monkeypatch.delenv("BROKERCARE_DESK_ALWAYS_OPEN")
        reset_settings()


def test_the_admin_rotates_keys_and_runs_a_job_from_the_page(browser, platform):
    """admin01 rotates the data keys and runs the margin-call settlement now, each only after ticking
    its confirmation; the refusals read in Chinese on the page (issue 14 item 7)."""
    context, page = login(browser, platform, "admin01", STAFF_PASSWORD)
    page.goto(f"{platform.url}/workbench/admin")
    page.click("#rotate-form button[type=submit]")
    page.locator("#keys .error", has_text="请先勾选“我确认轮换数据密钥”").wait_for(timeout=10_000)
    page.check("#rotate-form input[name=confirm]")
    page.click("#rotate-form button[type=submit]")
    notice = page.locator("#admin-notice")
    notice.wait_for(timeout=60_000)
    assert "已轮换到新密钥" in notice.inner_text()
    assert "使用中" in page.locator("#keys").inner_text() and "已停用" in page.locator("#keys").inner_text()

    page.select_option("#run-job-form select[name=job]", "monitoring.margin_calls_settle")
    page.check("#run-job-form input[name=confirm]")
    page.check("#run-job-form input[name=force]")
    page.click("#run-job-form button[type=submit]")
    page.locator("#admin-notice", has_text="“两融追保结案（已补足或被后续追保取代）”已执行成功").wait_for(timeout=60_000)
    assert page.locator("#jobs tr", has_text="两融追保结案").locator("td").last.inner_text().startswith("成功")
    shot(page, "firstday-admin-actions")
    context.close()


def test_an_angry_vip_at_night_with_nobody_on_duty_reads_of_a_call_back(browser, platform, monkeypatch):
    """The desk is closed (its hours say so, whatever the clock of the test run) and nobody is on
    duty: the VIP's complaint reads one message with the call-back and its time, and the team lead
    who comes in finds it under 待回电 (issue 14 item 2)."""
    from tests.web.test_desk_browser import _latest_conversation, _quiet_desk

    from brokercare.core.settings import reset_settings
    from brokercare.service import service as hub
    from brokercare.service.routing import BusinessHours

    monkeypatch.delenv("BROKERCARE_DESK_ALWAYS_OPEN", raising=False)
    reset_settings()
    monkeypatch.setattr(BusinessHours, "is_open", lambda self, moment: False)  # the server runs in this process
    _quiet_desk(platform, "demo_vip")
    cctx, customer = login(browser, platform, "demo_vip", CUSTOMER_PASSWORD)
    customer.fill("#chat-input", "你们怎么搞的！我的委托一直显示已报却不成交，我要投诉！")
    customer.click("#chat-form button[type=submit]")
    customer.locator(".msg", has_text="已为您登记回电").wait_for(timeout=15_000)
    thread = customer.locator("#thread").inner_text()
    assert thread.count("登记回电") == 1 and "上班后第一时间联系您" in thread and "请稍候" not in thread
    shot(customer, "firstday-night-call-back")
    conv = _latest_conversation(platform, "demo_vip")
    with Session(platform.engine) as s:
        callback = hub.callback_of(s, conv.id)
        assert callback is not None and callback.done_at is None
    lctx, lead = login(browser, platform, "lead01", STAFF_PASSWORD)
    lead.goto(f"{platform.url}/workbench")
    lead.locator("#callbacks").wait_for(timeout=15_000)
    assert "待回电" in lead.locator("#callbacks").inner_text()
    for c in (cctx, lctx):
        c.close()


def test_the_hand_off_summary_shows_a_similar_resolved_case_without_the_other_customer(browser, platform,
                                                                                      monkeypatch):
    """An earlier margin case of another customer was resolved; the VIP now writes about the same
    call for more collateral: the team lead reading the waiting conversation sees that case under
    转人工摘要 — ticket number, subject and what was done — in Chinese, without the other customer's
    name or phone (issue 15 item 2)."""
    from tests.web.test_desk_browser import _latest_conversation, _quiet_desk

    from brokercare.assistant import service as assistant_service
    from brokercare.core.settings import reset_settings
    from brokercare.customers.service import get_customer
    from brokercare.service import tickets
    from brokercare.service.assistant import intent_name
    from brokercare.service.models import Contact

    monkeypatch.setenv("BROKERCARE_DESK_ALWAYS_OPEN", "1")
    reset_settings()
    _quiet_desk(platform, "demo_vip")
    text = "融资融券维持担保比例低于130%被要求追加保证金，我该怎么办？"
    intent = assistant_service.analyze(text).intent
    with Session(platform.engine, expire_on_commit=False) as s:
        other = get_customer(s, customer_id_of(platform, "demo_mass"))
        contact = s.scalar(select(Contact).where(Contact.customer_id == other.id))
        if contact is None:
            contact = Contact(customer_id=other.id, kind="customer", label=other.name)
            s.add(contact)
            s.flush()
        case = tickets.create_ticket(s, contact_id=contact.id, subject=f"{intent_name(intent)}：维持担保比例低于130%要追加保证金",
                                     description="维持担保比例低于130%，被要求追加保证金，怎么办？", category=intent)
        tickets.transition(s, case.id, "resolved", actor_id=None,
                           note=f"已致电{other.name}（13800138000）说明：须在T+2日前追加担保物或卖出还款，客户补足后已恢复。")
        s.commit()
    cctx, customer = login(browser, platform, "demo_vip", CUSTOMER_PASSWORD)
    customer.fill("#chat-input", text)
    customer.click("#chat-form button[type=submit]")
    customer.locator(".msg", has_text="转接").last.wait_for(timeout=15_000)
    conv = _latest_conversation(platform, "demo_vip")
    lctx, lead = login(browser, platform, "lead01", STAFF_PASSWORD)
    lead.goto(f"{platform.url}/workbench/conversations/{conv.id}")
    similar = lead.locator("#similar-cases")
    similar.wait_for(timeout=15_000)
    shown = similar.inner_text()
    assert f"工单 {case.ticket_no}" in shown and "维持担保比例低于130%要追加保证金" in shown
    assert "当时的处理：已致电" in shown and "相似度" in shown
    assert other.name not in shown and "13800138000" not in shown and "138****8000" in shown
    assert intent not in shown  # no raw intent codes
    shot(lead, "firstday-similar-cases")
    for c in (cctx, lctx):
        c.close()
