"""Event triggers: the festival calendar, birthdays and anniversaries under one frequency cap
shared with the daily report and the leads; and a VIP's holding at limit-down putting a
15-minute task with a script in front of the manager."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from tests.engagement.people import branch, customer, manager
from tests.monitoring.brokerage import add_instruments

from brokercare.customers.models import Customer
from brokercare.engagement import contact, leads, service, triggers
from brokercare.engagement.models import DailyReport, Touch
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.preferences import set_preferences
from brokercare.monitoring.service import load_book, load_universe, market_info, record_findings
from brokercare.outbox.models import OutboxMessage

LANTERN = date(2026, 3, 3)  # 元宵节, a Tuesday: the exchanges trade


def _messages(session, customer_id: int) -> list[str]:
    return [m.kind for m in session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == customer_id)
                                            .order_by(OutboxMessage.id))]


def test_the_calendar_knows_the_lunar_festivals():
    assert triggers.festival_on(date(2026, 2, 17)).name == "春节"
    assert triggers.festival_on(date(2027, 9, 15)).name == "中秋节"
    assert triggers.festival_on(date(2028, 10, 1)).name == "国庆节"
    assert triggers.festival_on(date(2026, 3, 4)) is None


def test_the_frequency_cap_holds_across_greetings_report_and_leads(engine, session):
    """刘洋's birthday falls on the Lantern Festival: birthday and festival greetings fill the day's
    cap of two, so the evening's report push and the night's lead wait; 陈思远 gets the festival
    greeting and the report push, and his lead waits for the next night."""
    people = branch(session)
    liu = session.get(Customer, people["liu"])
    liu.birth_date = date(1985, 3, 3)
    for cid in (people["liu"], people["chen"]):
        set_preferences(session, cid, daily_report=True)
    session.commit()
    assert contact.cap().per_day == 2

    greeted = triggers.send_greetings(session, LANTERN)
    session.commit()
    assert (greeted.queued, greeted.capped) == (4, 0)  # three festival greetings and 刘洋's birthday
    night = service.publish_daily_reports(engine, LANTERN)
    assert (night.reports, night.pushes) == (2, 1)
    raised = leads.raise_leads(session, LANTERN)
    session.commit()
    assert (raised.leads, raised.capped) == (0, 2)

    assert _messages(session, people["liu"]) == ["greeting_birthday", "greeting_festival"]
    assert _messages(session, people["chen"]) == ["greeting_festival", "daily_report"]
    assert session.scalar(select(DailyReport.id).where(DailyReport.customer_id == people["liu"])) is not None
    sent = {}
    for t in session.scalars(select(Touch).where(Touch.day == LANTERN, Touch.sent.is_(True))):
        sent[t.customer_id] = sent.get(t.customer_id, 0) + 1
    assert max(sent.values()) == 2
    assert leads.raise_leads(session, LANTERN + timedelta(days=1)).leads == 2  # the next night
    session.commit()
    assert service.publish_daily_reports(engine, LANTERN).pushes == 0  # a re-run keeps the answer


def test_a_greeting_uses_the_customers_channel_and_waits_for_the_morning(session):
    people = branch(session)
    profile = next(p for p in triggers.stored_profiles(session.connection(), lo=1, hi=10)
                   if p["customer_id"] == people["chen"])
    profile["features"]["wechat_bound"] = False
    greeting = triggers.greetings_for([profile], date(2026, 9, 25))[0]
    assert greeting.message.channel == "app" and greeting.message.subject == "中秋节快乐"
    assert greeting.message.body.startswith("陈思远您好，中秋佳节")
    assert greeting.message.not_before.astimezone(triggers.SHANGHAI).hour == 9
    chose_sms = triggers.greetings_for([dict(profile, features={**profile["features"], "phone_verified": True})],
                                       date(2026, 9, 25), {people["chen"]: ["sms", "app"]})[0]
    assert chose_sms.message.channel == "sms"  # the customer's own choice first
    born = dict(profile, birth_date=date(1980, 2, 29))
    assert [g.kind for g in triggers.greetings_for([born], date(2027, 2, 28))] == ["birthday"]


@pytest.fixture
def crash_day(session):
    """10:00 Beijing, 16 June 2026: every main-board share falls 10 % to its limit-down price.
    王总 (VIP, 6,000 万) and 孙女士 (mass) both hold 贵州茅台."""
    add_instruments(session)
    wang = manager(session, "cm_li", "李经理")
    vip = customer(session, 1, "王总", manager_id=wang, cash="60000000", holdings=(("600519.SH", 1000),))
    mass = customer(session, 2, "孙女士", manager_id=wang, cash="100000", holdings=(("600519.SH", 100),))
    session.commit()
    universe = load_universe(session)
    book = load_book(session, universe=universe)
    ev = Evaluator(book, market_info(universe, date(2026, 6, 16)))
    base = np.array([float(u.last_price) for u in universe])
    ev.evaluate(Snapshot(datetime(2026, 6, 16, 1, 59, tzinfo=UTC), base, np.zeros(len(base))))
    fired = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)
    f = ev.evaluate(Snapshot(fired, np.round(base * 0.9, 2), np.zeros(len(base))))
    record_findings(session, book, f, ev.last_price)
    session.commit()
    return {"vip": vip, "mass": mass, "manager": wang, "fired": fired}


def test_a_limit_down_on_a_vips_holding_gives_the_manager_a_15_minute_task(session, crash_day):
    since = crash_day["fired"] - timedelta(minutes=5)
    assert triggers.limit_down_tasks(session, since) == 1
    assert triggers.limit_down_tasks(session, since) == 0  # the next minute's run adds nothing
    session.commit()
    [task] = triggers.tasks_of(session, manager_id=crash_day["manager"])
    assert task.customer_id == crash_day["vip"]  # not 孙女士: mass tier
    assert task.due_at - crash_day["fired"] == timedelta(minutes=15)
    assert task.title == "紧急：王总持有的贵州茅台跌停"
    assert task.script.startswith("王总您好，我是您的客户经理。注意到您持有的贵州茅台今天跌停（-10.00%）")
    assert "{" not in task.script
    done = triggers.complete_task(session, task.id, by_manager=crash_day["manager"])
    assert done.state == "done" and triggers.tasks_of(session, manager_id=crash_day["manager"]) == []

