"""Customer managers: proactive lead conversion checked against hand-written SQL, the month-end
book snapshot job, and the managers' scorecards (AUM growth and retention of the book, leads won,
tasks done, their customers' CSAT) seen by the manager, their lead and admins only."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select, text
from tests.quality import dataset
from tests.quality.dataset import bj

from brokercare.accounts.models import Account
from brokercare.core.errors import PermissionDenied
from brokercare.core.scheduler import run_now
from brokercare.customers.models import Customer
from brokercare.engagement.models import Lead, ManagerTask
from brokercare.quality import managers, report
from brokercare.quality import service as quality
from brokercare.quality.models import BookSnapshot
from brokercare.security.models import User
from brokercare.service.models import AgentProfile

# customer, need, manager, state, raised on, contacted, closed, amount won
LEADS = [
    ("lin", "life_event", "mgr_li", "won", date(2026, 11, 2), bj(11, 3, 10), bj(11, 6, 15), "100000"),
    ("zhang", "life_event", "mgr_li", "contacted", date(2026, 11, 5), bj(11, 5, 16), None, None),
    ("liu", "foreign_currency", "mgr_li", "lost", date(2026, 11, 10), bj(11, 11, 9), bj(11, 12, 9), None),
    ("zhang", "foreign_currency", "mgr_li", "new", date(2026, 11, 30), None, None, None),
    ("lin", "foreign_currency", "mgr_li", "won", date(2026, 10, 28), bj(10, 29, 9), bj(10, 30, 9), "80000"),
    ("su", "life_event", "mgr_he", "won", date(2026, 11, 12), bj(11, 12, 10), bj(11, 13, 10), "50000"),
    ("su", "idle_cash", "mgr_he", "new", date(2026, 11, 1), None, None, None),
]
# manager, due, done
TASKS = [("mgr_li", bj(11, 5, 10), bj(11, 5, 9, 50)), ("mgr_li", bj(11, 6, 10), bj(11, 6, 10, 30)),
         ("mgr_li", bj(11, 7, 10), None), ("mgr_li", bj(12, 2, 10), None), ("mgr_he", bj(11, 9, 10), bj(11, 9, 9))]


@pytest.fixture
def desk(session):
    desk = dataset.build(session)
    he = User(username="mgr_he", display_name="何经理", role="customer_manager", password_hash="x", active=True)
    admin = User(username="admin_qi", display_name="齐主管", role="admin", password_hash="x", active=True)
    session.add_all([he, admin])
    session.flush()
    session.add(AgentProfile(user_id=he.id, skills=[], max_concurrent=3, team_lead_id=desk.staff["lead_wu"].id))
    desk.staff.update(mgr_he=he, admin_qi=admin)
    cid = {k: c.customer_id for k, c in desk.contacts.items()}
    for key, manager in [("lin", "mgr_li"), ("zhang", "mgr_li"), ("liu", "mgr_li"), ("su", "mgr_he")]:
        session.get(Customer, cid[key]).manager_id = desk.staff[manager].id
    for customer, need, manager, state, raised, contacted, closed, amount in LEADS:
        session.add(Lead(customer_id=cid[customer], need=need, manager_id=desk.staff[manager].id, score=0.7,
                         reason="客户近期咨询养老规划", talking_points=["了解退休时间"], state=state, raised_on=raised,
                         contacted_at=contacted, closed_at=closed, amount=Decimal(amount) if amount else None,
                         created_at=bj(raised.month, raised.day, 19)))
    for n, (manager, due, done) in enumerate(TASKS):
        session.add(ManagerTask(key=f"task-{n}", customer_id=cid["lin"], manager_id=desk.staff[manager].id,
                                kind="limit_down", title="贵州茅台跌停，请联系客户", script="您好，今天……",
                                state="done" if done else "open", created_at=due, due_at=due, done_at=done))
    desk.accounts = {}
    for n, key in enumerate(["lin", "zhang", "liu", "su"]):
        account = Account(account_no=f"A9{n:010d}", customer_id=cid[key], kind="cash", opened_on=date(2019, 6, 1),
                          branch_code="SH01", commission_rate=Decimal("0.00025"), cash_balance=Decimal("0"))
        session.add(account)
        desk.accounts[key] = account
    session.commit()
    return desk


def _cash(session, desk, **balances: str) -> None:
    for key, value in balances.items():
        desk.accounts[key].cash_balance = Decimal(value)
    session.commit()


def test_lead_conversion_matches_an_independent_sql_count(session, desk):
    found = managers.lead_conversion(session, *quality.month_window(dataset.MONTH))
    sql = text("""
        SELECT manager_id, need, COUNT(*),
               SUM(CASE WHEN contacted_at IS NOT NULL THEN 1 ELSE 0 END),
               SUM(CASE WHEN state = 'won' THEN 1 ELSE 0 END),
               SUM(CASE WHEN state = 'won' THEN amount ELSE 0 END)
        FROM engagement_leads WHERE raised_on >= '2026-11-01' AND raised_on <= '2026-11-30'
        GROUP BY manager_id, need""")
    expected = {(m, need): (n, contacted, won, float(amount)) for m, need, n, contacted, won, amount in session.execute(sql)}
    got = {(r["manager_id"], r["need"]): (r["leads_raised"], r["leads_contacted"], r["leads_won"], r["won_amount"])
           for r in found["manager_need"].to_dicts()}
    assert got == expected
    li, he = desk.staff["mgr_li"].id, desk.staff["mgr_he"].id
    by_manager = {r["manager_id"]: r for r in found["manager"].to_dicts()}
    assert (by_manager[li]["leads_raised"], by_manager[li]["leads_contacted"], by_manager[li]["leads_won"]) == (4, 3, 1)
    assert by_manager[li]["lead_conversion_rate"] == pytest.approx(1 / 3)  # won / contacted
    assert by_manager[li]["lead_win_rate"] == pytest.approx(1 / 4)  # won / raised
    assert by_manager[he]["lead_conversion_rate"] == 1.0 and by_manager[he]["lead_win_rate"] == 0.5
    by_need = {r["need"]: r for r in found["need"].to_dicts()}
    assert by_need["life_event"]["leads_won"] == 2 and by_need["life_event"]["won_amount"] == 150_000
    assert by_need["idle_cash"]["lead_conversion_rate"] is None  # nobody contacted: no rate, not 0 %
    overall = found["overall"].row(0, named=True)
    assert (overall["leads_raised"], overall["leads_contacted"], overall["leads_won"]) == (6, 4, 2)


def test_the_month_end_snapshot_and_the_managers_scorecard(session, desk):
    _cash(session, desk, lin="1000000", zhang="200000", liu="50000", su="30000")
    october = run_now("quality.book_snapshot", date(2026, 10, 30))
    assert october.status == "succeeded", october.error
    assert october.counts == {"day": "2026-10-30", "customers": 5}  # every open customer (赵强 closed)
    _cash(session, desk, lin="1100000", zhang="500", liu="60000")
    assert run_now("quality.book_snapshot", date(2026, 11, 30)).status == "succeeded"
    assert run_now("quality.book_snapshot", date(2026, 11, 30)).status == "succeeded"  # a rerun replaces
    assert len(session.scalars(select(BookSnapshot.id).where(BookSnapshot.day == date(2026, 11, 30))).all()) == 5

    li = desk.staff["mgr_li"]
    card = quality.manager_scorecard(session, li, li.id, *quality.month_window(dataset.MONTH))
    assert (card["book_start_day"], card["book_end_day"]) == ("2026-10-30", "2026-11-30")
    assert (card["aum_start"], card["aum_end"]) == (1_250_000, 1_160_500)
    assert card["aum_growth"] == pytest.approx(-89_500 / 1_250_000)
    assert (card["retention_base"], card["retention_rate"]) == (3, pytest.approx(2 / 3))  # 张伟 took his money
    assert (card["leads_won"], card["leads_contacted"], card["won_amount"]) == (1, 3, 100_000)
    assert (card["tasks_due"], card["tasks_done"], card["tasks_done_on_time"]) == (3, 2, 1)
    # 林国华 5, 张伟 3, 刘洋 4 — the answers of the manager's own customers in November
    assert (card["csat_responses"], card["csat_average"]) == (3, pytest.approx(4.0))


def test_a_month_without_its_snapshot_shows_no_aum_figures(session, desk):
    li = desk.staff["mgr_li"]
    card = quality.manager_scorecard(session, li, li.id, *quality.month_window(dataset.MONTH))
    assert card["aum_start"] is None and card["aum_growth"] is None and card["retention_rate"] is None
    assert card["leads_raised"] == 4


def test_the_scorecard_is_seen_by_the_manager_the_lead_and_admins_only(session, desk):
    li, window = desk.staff["mgr_li"], quality.month_window(dataset.MONTH)
    for viewer in ("mgr_li", "lead_wu", "admin_qi"):
        assert quality.manager_scorecard(session, desk.staff[viewer], li.id, *window)["manager_id"] == li.id
    for viewer in ("mgr_he", "lead_zhou", "agent_wang"):
        with pytest.raises(PermissionDenied):
            quality.manager_scorecard(session, desk.staff[viewer], li.id, *window)


def test_the_monthly_report_shows_lead_conversion_by_need(session, desk):
    kpis = quality.month_kpis(session, dataset.MONTH, as_of=dataset.AS_OF)
    extras = report.gather(session, kpis)
    assert extras.lead_conversion == [["外币资产配置", "2", "1", "0", "0.0%", "0.0%"],
                                      ["闲置资金管理", "1", "0", "0", "—", "0.0%"],
                                      ["人生阶段规划", "3", "3", "2", "66.7%", "66.7%"]]
    page = report.html(kpis, extras)
    assert "主动服务线索转化（按需求）" in page and "<td>人生阶段规划</td>" in page and "life_event" not in page
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(report.pdf(kpis, extras))).pages)
    assert "主动服务线索转化" in text
