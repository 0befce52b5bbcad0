"""Tier services as a wealth team runs them: a VIP's 1+N team in the customer 360, the potential
tier's quarterly review tasks (due, done, overdue), the mass tier's monthly commentary through
the compliance guard and the frequency cap, and the long tail's education links."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.engagement.people import PASSWORD, customer, manager
from tests.monitoring.brokerage import add_instruments

from brokercare.accounts.models import Account
from brokercare.api import create_app
from brokercare.core.errors import Conflict, ValidationFailed
from brokercare.customers.models import Customer
from brokercare.customers.service import refresh_profile
from brokercare.engagement import commentary, contact, service, tiers, triggers
from brokercare.engagement.models import ManagerTask, TeamMember
from brokercare.market.models import DailyBar, Instrument
from brokercare.outbox.models import OutboxMessage
from brokercare.security import auth
from brokercare.security.crypto import get_cipher
from brokercare.security.service import create_user


def _staff(session, username: str, name: str, role: str = "advisor") -> int:
    return create_user(session, username=username, password=PASSWORD, role=role, display_name=name).id


def _vip_branch(session) -> dict:
    """王经理 serves two VIPs (6,000万 and 8,000万 in cash) and one potential-tier customer (600万);
    two advisers, a margin specialist and a wealth planner are registered."""
    add_instruments(session)
    wang = manager(session, "cm_wang", "王经理")
    ids = {"wang": wang,
           "vip1": customer(session, 1, "沈国栋", manager_id=wang, cash="60000000"),
           "vip2": customer(session, 2, "顾晓岚", manager_id=wang, cash="80000000"),
           "potential": customer(session, 3, "许文博", manager_id=wang, cash="6000000")}
    for username, name, role, skill in (("adv_li", "李明远", "advisor", "advisory"),
                                        ("adv_zhou", "周若琳", "advisor", "advisory"),
                                        ("mg_sun", "孙立强", "agent", "margin"),
                                        ("wl_he", "何佳怡", "advisor", "wealth")):
        ids[username] = _staff(session, username, name, role)
        tiers.add_specialist(session, username=username, skill=skill)
    session.commit()
    return ids


def test_every_vip_gets_one_specialist_per_skill_the_least_loaded_first(session):
    people = _vip_branch(session)
    assert tiers.assign_teams(session, date(2026, 6, 16)) == {"assigned": 6, "released": 0}
    session.commit()
    team1 = service.team_of(session, people["vip1"])
    assert [(m["role"], m["name"]) for m in team1] == [
        ("客户经理（牵头）", "王经理"), ("投资顾问", "李明远"), ("融资融券专员", "孙立强"), ("理财规划师", "何佳怡")]
    advisers = {m["name"] for m in service.team_of(session, people["vip2"]) if m["role"] == "投资顾问"}
    assert advisers == {"周若琳"}  # 李明远 already serves one VIP
    assert service.team_of(session, people["potential"]) == []
    assert tiers.assign_teams(session, date(2026, 6, 17)) == {"assigned": 0, "released": 0}

    # 沈国栋 moves most of his money out: no longer VIP, he leaves his team
    session.scalar(select(Account).where(Account.customer_id == people["vip1"])).cash_balance = Decimal("3000000")
    refresh_profile(session, people["vip1"])
    assert tiers.assign_teams(session, date(2026, 6, 18)) == {"assigned": 0, "released": 3}
    assert session.scalars(select(TeamMember.customer_id).distinct()).all() == [people["vip2"]]


def test_a_specialist_must_be_active_staff_with_a_known_skill(session):
    _vip_branch(session)
    with pytest.raises(ValidationFailed, match="unknown skill"):
        tiers.add_specialist(session, username="adv_li", skill="炒股")
    with pytest.raises(Conflict):
        tiers.add_specialist(session, username="adv_li", skill="advisory")


@pytest.fixture
def client(engine, session, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    people = _vip_branch(session)
    cipher = get_cipher(session)  # the 360 shows masked personal data: real ciphertext, as on file
    for cid, id_number, phone in ((people["vip1"], "310104197204153216", "13901234567"),
                                  (people["potential"], "440305198811204417", "13798765432")):
        c = session.get(Customer, cid)
        c.id_number_enc, c.phone_enc = cipher.encrypt(id_number), cipher.encrypt(phone)
    tiers.assign_teams(session, date(2026, 6, 16))
    tiers.raise_quarterly_reviews(session, date(2026, 1, 5))  # due 2026-01-31: long overdue
    session.commit()
    with TestClient(create_app()) as c:
        c.people = people
        yield c


def test_the_vips_1_plus_n_team_shows_in_the_customer_360(client):
    assert client.post("/login", data={"username": "cm_wang", "password": PASSWORD},
                       follow_redirects=False).status_code == 303
    page = client.get(f"/workbench/customers/{client.people['vip1']}")
    assert page.status_code == 200
    team = re.search(r'<ul id="service-team">(.*?)</ul>', page.text, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", team) == ["客户经理（牵头）：王经理", "投资顾问：李明远",
                                                   "融资融券专员：孙立强", "理财规划师：何佳怡"]
    assert "本层级服务：1+N 专属服务团队" in page.text
    other = client.get(f"/workbench/customers/{client.people['potential']}")
    assert "service-team" not in other.text and "本层级服务：每季度资产检视" in other.text


def test_the_quarterly_review_is_on_the_managers_page_overdue_then_done(client, session):
    client.post("/login", data={"username": "cm_wang", "password": PASSWORD})
    page = client.get("/workbench/leads")
    row = re.search(r'<tr class="overdue">(.*?)</tr>', page.text, re.S).group(1)
    assert "2026-01-31" in row and "已逾期" in row and "季度资产检视" in row and "2026年第1季度资产检视：许文博" in row
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
    task = int(re.search(r"/workbench/tasks/(\d+)/done", row).group(1))
    assert client.post(f"/workbench/tasks/{task}/done", data={"csrftoken": token}, follow_redirects=False).status_code == 303
    assert "许文博" not in client.get("/workbench/leads").text


def test_one_review_task_per_potential_customer_and_quarter(session):
    people = _vip_branch(session)
    q4 = date(2026, 10, 9)
    assert tiers.raise_quarterly_reviews(session, q4) == 1
    assert tiers.raise_quarterly_reviews(session, q4 + timedelta(days=20)) == 0
    [task] = session.scalars(select(ManagerTask).where(ManagerTask.kind == "quarterly_review")).all()
    assert task.customer_id == people["potential"] and task.manager_id == people["wang"]
    assert task.key == f"review:{people['potential']}:2026Q4"
    assert task.due_at.astimezone(triggers.SHANGHAI).date() == date(2026, 10, 31)
    assert "总资产约600.0万元" in task.script and "现金约占100%" in task.script
    assert triggers.is_overdue(task, datetime(2026, 11, 1, tzinfo=UTC))
    assert not triggers.is_overdue(task, datetime(2026, 10, 20, tzinfo=UTC))
    late = tiers.raise_quarterly_reviews(session, date(2027, 3, 29))  # Q1 2027 raised late in the quarter
    assert late == 1
    newest = session.scalar(select(ManagerTask).where(ManagerTask.key.endswith("2027Q1")))
    assert newest.due_at.astimezone(triggers.SHANGHAI).date() == date(2027, 4, 5)  # at least a week


# --- the mass tier's monthly commentary -----------------------------------------------------

SEPT_END, OCT_END = date(2026, 9, 30), date(2026, 10, 30)


def _bars(session, symbol: str, before: str, end: str) -> None:
    for day, close in ((date(2026, 9, 29), before), (SEPT_END, before), (date(2026, 10, 15), end), (OCT_END, end)):
        c = Decimal(close)
        session.add(DailyBar(symbol=symbol, day=day, open=c, high=c, low=c, close=c, volume=1000))


def _mass_branch(session) -> dict:
    add_instruments(session)
    session.add(Instrument(symbol="510300.SH", code="510300", exchange="SH", name="华泰柏瑞沪深300ETF", kind="etf",
                           board="index", lot_size=100, risk_rating="R3", last_price=Decimal("4.680")))
    session.add(Instrument(symbol="002046.OF", code="002046", exchange="OF", name="银华保本增值混合", kind="fund",
                           board="mixed", lot_size=1, risk_rating="R2", last_price=Decimal("1.2")))
    session.flush()
    wang = manager(session, "cm_wang", "王经理")
    ids = {"mass": customer(session, 1, "杨帆", manager_id=wang, cash="300000",
                            holdings=(("600519.SH", 400), ("000001.SZ", 20000))),
           "guarded": customer(session, 2, "白雪", manager_id=wang, cash="600000", holdings=(("002046.OF", 10000),)),
           "tail": customer(session, 3, "马小军", manager_id=wang, cash="20000"),
           "vip": customer(session, 4, "沈国栋", manager_id=wang, cash="60000000")}
    _bars(session, "600519.SH", "1500.00", "1560.00")  # +4.00 %
    _bars(session, "000001.SZ", "10.00", "9.50")  # -5.00 %
    _bars(session, "510300.SH", "4.000", "4.100")  # +2.50 %
    _bars(session, "002046.OF", "1.000", "1.010")
    session.commit()
    return ids


def _sent(session, customer_id: int) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == customer_id)
                                .order_by(OutboxMessage.id)))


def test_the_monthly_commentary_is_written_from_holdings_and_the_months_bars(session):
    people = _mass_branch(session)
    sent = commentary.send_monthly_commentary(session, date(2026, 11, 2))
    session.commit()
    assert (sent.queued, sent.blocked, sent.capped) == (1, 1, 0)
    [msg] = _sent(session, people["mass"])
    # independent arithmetic: 400 × 1,560 = 624,000 and 20,000 × 9.50 = 190,000 at the month's end;
    # 400 × 1,500 + 20,000 × 10 = 800,000 before: +14,000 元, +1.75 %
    assert msg.subject == "2026年10月投后点评" and msg.kind == "engagement_commentary"
    assert msg.body.startswith("杨帆您好，这是您2026年10月的投后点评。本月沪深300上涨2.50%。")
    assert "持仓市值约814,000元，本月变动+14,000元（+1.75%）" in msg.body
    assert "贵州茅台占77%，本月+4.00%；平安银行占23%，本月-5.00%" in msg.body
    assert "贵州茅台一只就超过持仓的三成" in msg.body and "风险" in msg.body
    # the guard stops a text that would name a "保本" product as it is: nothing goes to 白雪
    assert _sent(session, people["guarded"]) == []
    # neither the long tail nor the VIP gets the mass tier's commentary
    assert [m.kind for m in _sent(session, people["vip"])] == []
    assert commentary.send_monthly_commentary(session, date(2026, 11, 2)).queued == 0  # once a month


def test_the_commentary_waits_for_the_frequency_cap(session):
    people = _mass_branch(session)
    day = date(2026, 11, 2)
    contact.allow(session, [(people["mass"], "birthday:x"), (people["mass"], "festival:x")], kind="greeting", day=day)
    assert commentary.send_monthly_commentary(session, day).capped == 1
    assert _sent(session, people["mass"]) == []


def test_the_long_tail_gets_the_months_education_links(session):
    people = _mass_branch(session)
    sent = commentary.send_education(session, date(2026, 11, 2))
    assert sent.queued == 1
    [msg] = _sent(session, people["tail"])
    assert msg.subject == "2026年11月投资者教育精选" and msg.body.startswith("马小军您好")
    assert "https://www.investor.org.cn/" in msg.body and "https://edu.sse.com.cn/" in msg.body
    assert commentary.send_education(session, date(2026, 11, 20)).queued == 0


def test_the_team_and_the_overdue_review_through_the_api(client, session):
    create_user(session, username="cm_zhao", password=PASSWORD, role="customer_manager", display_name="赵经理")
    session.commit()

    def bearer(username: str) -> dict:
        token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    wang = bearer("cm_wang")
    team = client.get(f"/api/v1/engagement/customers/{client.people['vip1']}/team", headers=wang).json()
    assert [m["role"] for m in team] == ["客户经理（牵头）", "投资顾问", "融资融券专员", "理财规划师"]
    refused = client.get(f"/api/v1/engagement/customers/{client.people['vip1']}/team", headers=bearer("cm_zhao"))
    assert refused.status_code == 403
    [task] = client.get("/api/v1/engagement/tasks", headers=wang).json()
    assert task["kind"] == "quarterly_review" and task["overdue"] is True


def test_scattered_customers_are_read_in_narrow_ranges():
    assert tiers.id_ranges([3, 5, 40_000, 40_001, 95_000], width=20_000) == [(3, 5), (40_000, 40_001), (95_000, 95_000)]
    assert tiers.id_ranges([]) == []
