"""The workbench and the customer page in a real browser (Debian's Chromium via Playwright),
against the real platform serving a generated demo brokerage on SQLite.

Each scenario is what a person would do; screenshots land in test-output/screenshots.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal

import pytest
from sqlalchemy.orm import Session
from tests.relationships import serve
from tests.web.conftest import served_demo, shot

STAFF_PASSWORD = "BrokerCare-2026"
CUSTOMER_PASSWORD = "Kehu-2026"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A 300-customer demo brokerage, every domain's demo history, served on a loopback port."""
    yield from served_demo(tmp_path_factory, "web-data")


@pytest.fixture(autouse=True)
def _isolated_settings():
    """Browser scenarios share the module's brokerage (its data dir and master key)."""
    yield


def login(browser, platform, username: str, password: str, *, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{platform.url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return context, page


def customer_id_of(platform, username: str) -> int:
    from brokercare.security.service import get_user_by_username

    with Session(platform.engine) as s:
        return get_user_by_username(s, username).customer_id


def test_customer_asks_for_ipo_quota_and_gets_their_own_figure(browser, platform):
    """The figure is the exchange rule applied to the stored daily market values: the average over
    the 20 trading days ending T-2 (a day without a value counts as 0), 1,000 shares per full
    1万 in Shanghai once the average reaches 1万."""
    from datetime import datetime

    from sqlalchemy import func, select

    from brokercare.core.calendar import SHANGHAI, add_trading_days, trading_days
    from brokercare.monitoring.models import MarketValueDaily

    cid = customer_id_of(platform, "demo_mass")
    today = datetime.now(SHANGHAI).date()
    last = add_trading_days(today, -2)
    window = trading_days(add_trading_days(last, -19), last)
    assert len(window) == 20 and window[-1] == last
    with Session(platform.engine) as s:
        total = s.scalar(select(func.coalesce(func.sum(MarketValueDaily.value), 0)).where(
            MarketValueDaily.customer_id == cid, MarketValueDaily.exchange == "SH",
            MarketValueDaily.day.in_(window)))
    average = Decimal(str(total)) / 20
    expected = int((average / 10_000).to_integral_value(rounding=ROUND_DOWN)) * 1000 if average >= 10_000 else 0
    assert expected > 0, "the demo customer should hold Shanghai shares"

    context, page = login(browser, platform, "demo_mass", CUSTOMER_PASSWORD)
    assert page.url.endswith("/me")
    page.fill("#chat-input", "我现在能申购多少新股？额度是多少")
    page.click("#chat-form button[type=submit]")
    reply = page.locator(".msg.assistant", has_text="可申购").last
    reply.wait_for(timeout=15_000)
    assert f"沪市主板可申购 {expected:,} 股" in reply.inner_text()
    shot(page, "customer-ipo-quota")
    context.close()


def test_angry_customer_is_handed_to_a_person_and_sees_the_agents_reply(browser, platform):
    cctx, customer = login(browser, platform, "demo_longtail", CUSTOMER_PASSWORD)
    customer.fill("#chat-input", "你们系统又卡死了！！卖不出去亏了两万，太气人了，马上给我转人工投诉！")
    customer.click("#chat-form button[type=submit]")
    customer.locator(".msg", has_text="转").last.wait_for(timeout=15_000)

    from brokercare.security.models import User
    from brokercare.service.service import history_of_customer

    with Session(platform.engine) as s:
        conv = history_of_customer(s, customer_id_of(platform, "demo_longtail"), limit=1)[0]
        assert conv.status in ("waiting", "assigned"), "an angry customer goes to a person, not the AI"
        agent_name = s.get(User, conv.assigned_agent_id).username if conv.assigned_agent_id else "lead01"
    conv_id = conv.id
    actx, agent = login(browser, platform, agent_name, STAFF_PASSWORD)
    agent.goto(f"{platform.url}/workbench")
    shot(agent, "workbench-queue")
    agent.goto(f"{platform.url}/workbench/conversations/{conv_id}")
    take = agent.locator("form[action$='/take'] button")
    if take.count():
        take.first.click()
        agent.wait_for_load_state("networkidle")
    assert "愤怒" in agent.locator("#analysis").inner_text()
    agent.fill("#reply", "您好，我是人工客服，非常抱歉给您带来困扰。我已经在查看您的委托记录，10分钟内给您回电。")
    agent.locator("form[action$='/reply'] button[type=submit]").click()
    shot(agent, "workbench-conversation")

    arrived = customer.locator(".msg.agent", has_text="我是人工客服")
    arrived.wait_for(timeout=15_000)  # pushed over server-sent events, no reload
    shot(customer, "customer-sees-agent-reply")
    thread = customer.locator("#thread").inner_text()
    assert thread.index("太气人了") < thread.index("我是人工客服")  # the same thread, in order
    cctx.close()
    actx.close()


def test_agent_sees_masked_id_number_and_compliance_sees_it_whole(browser, platform):
    from brokercare.customers.service import get_customer
    from brokercare.security.crypto import get_cipher
    from brokercare.security.service import get_user_by_username

    cid = customer_id_of(platform, "demo_vip")
    with Session(platform.engine) as s:
        full_id = get_cipher(s).decrypt(get_customer(s, cid).id_number_enc)

    actx, agent = login(browser, platform, "agent01", STAFF_PASSWORD)
    agent.goto(f"{platform.url}/workbench/customers/{cid}")
    assert "没有服务关系" in agent.inner_text("body")  # not serving this customer: no page at all
    with Session(platform.engine) as s:
        serve(s, get_user_by_username(s, "agent01"), cid)
    agent.goto(f"{platform.url}/workbench/customers/{cid}")
    shown = agent.locator("td[data-field=id_number]").inner_text()
    assert shown != full_id and re.fullmatch(r"\d{3}\*{11}[\dX]{4}", shown), shown
    assert agent.locator("#reveal-pii").count() == 0
    shot(agent, "agent-masked-pii")
    actx.close()

    cctx, compliance = login(browser, platform, "compliance01", STAFF_PASSWORD)
    compliance.goto(f"{platform.url}/workbench/customers/{cid}")
    compliance.fill("input[name=reason]", "反洗钱客户身份复核")  # compliance reads with a stated reason
    compliance.click(f"form[action$='/workbench/customers/{cid}'] button[type=submit]")
    compliance.wait_for_load_state("networkidle")
    assert compliance.locator("td[data-field=id_number]").inner_text() == full_id
    shot(compliance, "compliance-full-pii")
    cctx.close()


def test_kpi_dashboard_renders_its_charts(browser, platform):
    context, page = login(browser, platform, "lead01", STAFF_PASSWORD)
    page.goto(f"{platform.url}/workbench/kpi")
    for chart in ("chart-volume", "chart-times", "chart-sla", "chart-csat"):
        page.wait_for_selector(f"#{chart}[data-rendered=true] canvas", timeout=10_000)
    assert "AI 独立解决率" in page.inner_text("body")
    shot(page, "kpi-dashboard")
    context.close()


def test_customer_page_is_usable_at_phone_width(browser, platform):
    context, page = login(browser, platform, "demo_vip", CUSTOMER_PASSWORD, viewport={"width": 375, "height": 740})
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page scrolls sideways by {overflow}px at phone width"
    box = page.locator("#chat-input").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375
    page.fill("#chat-input", "你好")
    page.click("#chat-form button[type=submit]")
    page.locator(".msg.customer", has_text="你好").last.wait_for(timeout=15_000)
    shot(page, "customer-phone-width")
    page.goto(f"{platform.url}/me/risk")
    assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "customer-risk-questionnaire-phone")
    context.close()


def test_customer_reads_the_daily_report_on_a_phone(browser, platform):
    """The demo's last trading days have their closes in the quote store (modelled where the
    shipped history has none), so the VIP's holdings moved each by its own close: the report says
    so in words, draws its charts without script, fits a phone's width, and the PDF link gives a
    PDF."""
    from brokercare.accounts.service import positions_of
    from brokercare.engagement.service import latest_day

    day = latest_day()
    with Session(platform.engine) as s:
        held = [p for p in positions_of(s, customer_id_of(platform, "demo_vip")) if p.kind in ("stock", "etf")]
    assert held, "the VIP demo customer holds shares"
    context, page = login(browser, platform, "demo_vip", CUSTOMER_PASSWORD, viewport={"width": 375, "height": 740})
    page.click("nav >> text=收盘报告")
    page.wait_for_load_state("networkidle")
    assert f"{day.month}月{day.day}日" in page.locator("article.daily-report h2").inner_text()
    assert re.match(r"今日您的持仓合计(盈利|亏损|持平)", page.locator(".headline").inner_text())
    assert page.locator("article.daily-report svg rect").count() >= 2
    assert page.locator("article.daily-report script").count() == 0
    assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "customer-daily-report-phone")
    pdf = page.request.get(f"{platform.url}/me/reports/daily/{day.isoformat()}.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:4] == b"%PDF"
    context.close()


def test_the_api_docs_work_without_internet_access(browser, platform):
    """/docs and /redoc render from the platform's own files: any request off the host is refused
    and recorded, and none is needed."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(platform.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{platform.url}/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert "/api/v1/events" in page.inner_text("body")
    shot(page, "api-docs-swagger")
    page.goto(f"{platform.url}/redoc")
    page.wait_for_function("document.body.innerText.includes('What is stale or failing')", timeout=15_000)
    shot(page, "api-docs-redoc")
    # ReDoc's menu footer links its maker with a logo from its own site; refused, nothing else is asked.
    assert [u for u in outside if not u.endswith("/logo-mini.svg")] == []
    assert page.request.get(f"{platform.url}/favicon.ico").ok
    context.close()


#: What people must never read on a page: internal codes (snake_case keys like out_of_scope,
#: position_diagnosis, first_trades_free) and the channels' English names. Text inside <code> is
#: left out: the admin page shows the commands and job ids an operator types.
RAW_CODE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|(?<![A-Za-z])(?:web|wechat|sms|email|phone)(?![A-Za-z])")
PAGES_BY_LOGIN = {
    "agent01": ["/workbench", "/workbench/tickets", "/workbench/alerts", "/workbench/kpi", "/workbench/customers",
                "/workbench/scorecards"],
    "lead01": ["/workbench", "/workbench/tickets", "/workbench/kpi", "/workbench/scorecards"],
    "risk01": ["/workbench/alerts", "/workbench/openings"],
    "compliance01": ["/workbench/access-reads?customer_id=1", "/workbench/openings", "/workbench/communities"],
    "admin01": ["/workbench/admin", "/workbench/scorecards"],
    "manager01": ["/workbench/leads", "/workbench/communities"],
    "demo_mass": ["/me", "/me/calculators", "/me/learn", "/me/learn/fraud-apps", "/me/learn/video-fund-basics",
                  "/me/learn/quiz-ipo", "/me/community", "/me/community/starter"],
}


def test_no_page_shows_a_raw_code(browser, platform):
    """Every role's pages, as rendered in Chromium, read in Chinese: no internal code or English
    channel name in the text a person sees (issue 14 item 12)."""
    found = []
    for username, paths in PAGES_BY_LOGIN.items():
        password = CUSTOMER_PASSWORD if username.startswith("demo_") else STAFF_PASSWORD
        context, page = login(browser, platform, username, password)
        for path in paths:
            page.goto(f"{platform.url}{path}")
            page.wait_for_load_state("networkidle")
            text = page.evaluate("() => { const b = document.body.cloneNode(true);"
                                 " b.querySelectorAll('code, script, style').forEach(e => e.remove());"
                                 " return b.innerText; }")
            found += [f"{username} {path}: {m.group(0)!r} in …{text[max(m.start() - 30, 0):m.end() + 30]!r}…"
                      for m in RAW_CODE.finditer(text)]
            if "<" in page.title() or len(page.title()) > 40:
                found.append(f"{username} {path}: the page's title is {page.title()[:60]!r}")
            if path == "/workbench/admin":
                shot(page, "admin-page")
        context.close()
    assert found == [], "\n".join(found[:40])


def test_a_customer_manager_sees_who_may_leave_and_why(browser, platform):
    from datetime import datetime

    from brokercare.core.calendar import SHANGHAI
    from brokercare.core.database import utcnow
    from brokercare.customers.service import all_customer_ids, assign_staff, get_customer
    from brokercare.quality.models import ChurnScore
    from brokercare.security.service import get_user_by_username

    with Session(platform.engine) as s:
        manager = get_user_by_username(s, "manager01")
        customer = get_customer(s, all_customer_ids(s)[7])
        assign_staff(s, customer.id, manager_id=manager.id)
        s.add(ChurnScore(scored_on=datetime.now(SHANGHAI).date(), customer_id=customer.id, manager_id=manager.id,
                         score=0.27, top_share=True, model_trained_at=utcnow(),
                         reasons=["近 90 天净转出资金 12.5 万元（转出 2 笔）", "App 使用减少：近 30 天 1 次，此前两个月月均 6 次"]))
        s.commit()
        name = customer.name
    context, page = login(browser, platform, "manager01", STAFF_PASSWORD)
    page.goto(f"{platform.url}/workbench/leads")
    risks = page.locator("section", has_text="流失风险客户")
    row = risks.locator("tr", has_text=name)
    assert "27%" in row.inner_text() and "全公司前 5%" in row.inner_text()
    assert row.locator("li").all_inner_texts() == ["近 90 天净转出资金 12.5 万元（转出 2 笔）",
                                                   "App 使用减少：近 30 天 1 次，此前两个月月均 6 次"]
    card = page.locator("section", has_text="本月计分卡").inner_text()
    assert "客户留存率" in card and "线索（成交 / 已联系 / 全部）" in card
    shot(page, "manager-churn-risks")
    row.locator("a").click()
    page.wait_for_load_state("networkidle")
    assert name in page.inner_text("body")  # the manager may open the customer they are to call


def test_a_vips_1_plus_n_team_shows_in_the_managers_customer_360(browser, platform):
    """A demo customer deposits 6,000 万 and becomes VIP: the night's tier services give them a
    specialist per skill from the demo's registered staff, and their manager's customer page shows
    the team (last in the module: the deposit stays)."""
    from datetime import datetime

    from sqlalchemy import select

    from brokercare.accounts.models import Account
    from brokercare.core.calendar import SHANGHAI
    from brokercare.customers.models import Customer
    from brokercare.customers.service import refresh_profile
    from brokercare.demo.brokerage import DEFAULT_STAFF_PASSWORD
    from brokercare.engagement import tiers
    from brokercare.security.service import get_user, get_user_by_username

    with Session(platform.engine) as s:
        # A branch manager's customer (manager01, another scenario's login, keeps theirs).
        account, manager_id = s.execute(select(Account, Customer.manager_id)
                                        .join(Customer, Customer.id == Account.customer_id)
                                        .where(Customer.manager_id.is_not(None), Account.kind == "cash",
                                               Customer.manager_id != get_user_by_username(s, "manager01").id)
                                        .order_by(Account.id).limit(1)).one()
        manager = get_user(s, manager_id)
        cid = account.customer_id
        account.cash_balance += Decimal("60000000")
        refresh_profile(s, cid)
        assert tiers.assign_teams(s, datetime.now(SHANGHAI).date())["assigned"] == 3
        s.commit()
        name, username = manager.display_name, manager.username
    context, page = login(browser, platform, username, DEFAULT_STAFF_PASSWORD)  # the demo managers' password
    page.goto(f"{platform.url}/workbench/customers/{cid}")
    team = page.locator("#service-team li").all_inner_texts()
    assert team == [f"客户经理（牵头）：{name}", "投资顾问：王芳", "融资融券专员：林雪", "理财规划师：黄建国"]
    assert "本层级服务：1+N 专属服务团队" in page.content()
    shot(page, "customer360-vip-team")
    context.close()
