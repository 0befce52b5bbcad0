"""The customer's assessed risk follows the advisory domain's ``risk.assessed`` events: the latest
assessment wins whatever order events arrive in, a redelivered event counts once, and the copy an
existing database starts from (migration 0014) picks the same latest assessment."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from brokerage import Brokerage
from sqlalchemy import text

from brokercare.core import migrate
from brokercare.core.bus import Event
from brokercare.core.calendar import SHANGHAI
from brokercare.customers import handlers
from brokercare.customers.models import AssessedRisk, Customer
from brokercare.customers.service import get_profile


def _assessed(customer_id: int, assessment_id: int, level: str, score: int, on: date) -> Event:
    return Event(type="risk.assessed", customer_id=customer_id, payload={
        "customer_id": customer_id, "assessment_id": assessment_id, "level": level, "score": score,
        "assessed_on": on.isoformat(), "valid_until": (on + timedelta(days=730)).isoformat(), "channel": "app"})


def test_the_latest_assessment_wins_and_a_redelivered_event_counts_once(session):
    customer, _ = Brokerage(session).customer(name="王芳", risk_level=None)
    session.commit()
    today = datetime.now(SHANGHAI).date()  # the profile counts days in Beijing
    newer = _assessed(customer.id, 12, "C4", 68, today - timedelta(days=3))
    handlers.on_event(newer)
    handlers.on_event(newer)  # at-least-once delivery: the same event again
    handlers.on_event(_assessed(customer.id, 9, "C2", 31, today - timedelta(days=400)))  # late, older

    session.expire_all()
    copy = session.get(AssessedRisk, customer.id)
    assert (copy.level, copy.score, copy.assessment_id, copy.assessments) == ("C4", 68, 12, 2)
    assert session.get(Customer, customer.id).risk_level == "C4"
    features = get_profile(session, customer.id).features
    assert features["risk_level"] == "C4" and features["risk_assessment_count"] == 2
    assert features["risk_assessed_days_ago"] == 3 and features["risk_assessment_expired"] is False


def test_migration_fills_the_copy_with_each_customers_latest_assessment(empty_engine):
    with empty_engine.begin() as conn:
        migrate.upgrade(conn, "0013_risk")
        for cid, no in ((1, "C000000001"), (2, "C000000002"), (3, "C000000003")):
            conn.execute(text(
                "INSERT INTO customers (id, customer_no, name, gender, birth_date, id_number_enc, id_number_hash, "
                "phone_enc, phone_hash, phone_verified, province, city, occupation, branch_code, opened_on, status, "
                "investor_type, created_at, updated_at) VALUES (:id, :no, '李娜', 'F', '1988-02-14', 'e', :h, 'e', :p, "
                "true, '浙江', '杭州', '会计', 'HZ01', '2020-05-06', 'active', 'ordinary', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"), {"id": cid, "no": no, "h": f"h{cid}", "p": f"p{cid}"})
        rows = [  # id, customer, level, score, assessed on: customer 1 twice, the same day twice for 2
            (1, 1, "C2", 30, "2024-03-01"), (2, 1, "C3", 52, "2025-09-10"),
            (3, 2, "C4", 70, "2025-01-05"), (4, 2, "C5", 88, "2025-01-05"),
        ]
        for rid, cid, level, score, on in rows:
            conn.execute(text(
                "INSERT INTO risk_assessments (id, customer_id, level, score, assessed_on, valid_until, channel) "
                "VALUES (:id, :c, :l, :s, :on, :until, 'app')"),
                {"id": rid, "c": cid, "l": level, "s": score, "on": date.fromisoformat(on),
                 "until": date.fromisoformat(on) + timedelta(days=730)})
        migrate.upgrade(conn, "0014_assessed_risks")
        copy = conn.execute(text("SELECT customer_id, assessment_id, level, score, assessments "
                                 "FROM assessed_risks ORDER BY customer_id")).all()
    assert [tuple(r) for r in copy] == [(1, 2, "C3", 52, 2), (2, 4, "C5", 88, 2)]  # customer 3 never assessed
