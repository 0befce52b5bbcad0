"""A VIP who turned limit alerts off still gets their manager's call: monitoring sends the
customer nothing, but the quote at the limit-down price gives the manager the 15-minute task."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from tests.engagement.people import customer, manager
from tests.monitoring.brokerage import add_instruments

from brokercare.engagement import triggers
from brokercare.market.service import Tick, ingest_quotes
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.preferences import set_preferences
from brokercare.monitoring.service import (
    alerts_since,
    load_book,
    load_universe,
    market_info,
    record_findings,
)

SEEN = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)  # 10:00 Beijing


def test_the_managers_task_does_not_depend_on_the_customers_alert_preference(session):
    add_instruments(session)
    li = manager(session, "cm_li", "李经理")
    vip = customer(session, 1, "王总", manager_id=li, cash="60000000", holdings=(("600519.SH", 1000),))
    mass = customer(session, 2, "孙女士", manager_id=li, cash="100000", holdings=(("600519.SH", 100),))
    set_preferences(session, vip, limit_alerts=False)  # 王总 does not want limit alerts in his app
    session.commit()
    # monitoring evaluates the crash: no limit alert for 王总
    universe = load_universe(session)
    book = load_book(session, universe=universe)
    ev = Evaluator(book, market_info(universe, date(2026, 6, 16)))
    base = np.array([float(u.last_price) for u in universe])
    ev.evaluate(Snapshot(SEEN - timedelta(minutes=1), base, np.zeros(len(base))))
    record_findings(session, book, ev.evaluate(Snapshot(SEEN, np.round(base * 0.9, 2), np.zeros(len(base)))),
                    ev.last_price)
    assert not [a for a in alerts_since(session, SEEN - timedelta(minutes=5), rules=("limit_down",))
                if a.customer_id == vip]
    # the quote store has 贵州茅台 at its limit-down price (1,500.00 × 0.9)
    ingest_quotes(session, [Tick("600519.SH", SEEN, 1350.0, 1_000_000, 1500.0)])
    session.commit()
    assert triggers.limit_down_tasks(session, SEEN - timedelta(minutes=5), now=SEEN + timedelta(seconds=40)) == 1
    assert triggers.limit_down_tasks(session, SEEN - timedelta(minutes=4), now=SEEN + timedelta(minutes=1)) == 0
    [task] = triggers.tasks_of(session, manager_id=li)
    assert task.customer_id == vip and mass != vip  # 孙女士 is mass tier: no task
    assert task.due_at == SEEN + timedelta(seconds=40) + timedelta(minutes=15)
    assert task.title == "紧急：王总持有的贵州茅台跌停" and "-10.00%" in task.script


def test_a_share_above_its_limit_down_raises_nothing(session):
    add_instruments(session)
    li = manager(session, "cm_li", "李经理")
    customer(session, 1, "王总", manager_id=li, cash="60000000", holdings=(("600519.SH", 1000),))
    ingest_quotes(session, [Tick("600519.SH", SEEN, 1351.0, 1_000_000, 1500.0)])  # -9.93 %: not at the limit
    session.commit()
    assert triggers.limit_down_tasks(session, SEEN - timedelta(minutes=5), now=SEEN + timedelta(seconds=40)) == 0
