"""``risk.assessed`` leaves the advisory domain only once the assessment is committed, and a bulk
load hands the customers domain every latest assessment at once."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from sqlalchemy import delete, select

from brokercare.advisory import questionnaire as Q
from brokercare.advisory import service
from brokercare.advisory.models import RiskAssessment
from brokercare.core.bus import InProcessBus, get_bus
from brokercare.customers.models import AssessedRisk, Customer

STEADY = dict(age="B", income="C", assets="C", share="C", stability="C", experience="D", products="C",
              knowledge="C", horizon="C", goal="C", max_loss="C", reaction="C", allocation="C")
DAY = date(2026, 7, 31)


def _heard(session) -> list[str]:
    bus = get_bus()
    assert isinstance(bus, InProcessBus)
    heard: list[str] = []
    bus.subscribe("risk.assessed", lambda e: heard.append(e.payload["level"]), group="test.listener")
    return heard


def test_nothing_is_announced_before_the_commit_or_after_a_rollback(session, customer_factory, backend):
    """On SQLite the row itself outlives the rollback: Python's sqlite3 module opens no transaction
    before the assessment's SAVEPOINT, so its RELEASE commits (core.database does not take over
    transaction control); the announcement is dropped all the same."""
    customer = customer_factory(birth=date(1985, 5, 1))
    session.commit()
    heard = _heard(session)
    Q.assess(session, customer.id, STEADY, today=DAY)
    assert heard == []  # written, not yet committed
    session.rollback()
    session.commit()
    assert heard == []
    kept = session.scalars(select(RiskAssessment)).all()
    assert (len(kept), backend) in ((0, "postgresql"), (1, "sqlite"))
    session.execute(delete(RiskAssessment))
    session.commit()

    with session.begin_nested() as savepoint:  # a caller that takes the assessment back
        Q.assess(session, customer.id, STEADY, today=DAY)
        savepoint.rollback()
    result = Q.assess(session, customer.id, STEADY, today=DAY)
    session.commit()
    assert heard == [result.level]  # the kept assessment only, once
    session.expire_all()
    assert session.get(Customer, customer.id).risk_level == result.level


def test_a_bulk_load_hands_over_every_latest_assessment(session, customer_factory):
    a = customer_factory(level="C2", assessed_on=DAY - timedelta(days=500))
    b = customer_factory(level="C4", assessed_on=DAY - timedelta(days=20))
    customer_factory()  # never assessed
    session.add(RiskAssessment(customer_id=a.id, level="C3", score=55, assessed_on=DAY - timedelta(days=10),
                               valid_until=DAY + timedelta(days=720)))
    session.add(AssessedRisk(customer_id=b.id, assessment_id=999, level="C1", score=1, assessed_on=DAY,
                             valid_until=DAY, assessments=9))  # stale: replaced, not merged
    session.commit()

    assert service.share_latest_assessments(session) == 2
    session.commit()
    copies = {r.customer_id: (r.level, r.assessments) for r in session.scalars(select(AssessedRisk))}
    assert copies == {a.id: ("C3", 2), b.id: ("C4", 1)}


def test_a_bulk_load_of_assessments_tells_the_customers_domain_chunk_by_chunk(session, customer_factory):
    first, second = customer_factory(), customer_factory()
    session.commit()
    days = np.array(["2025-03-02", "2026-06-30", "2026-01-15"], dtype="datetime64[D]")
    frame = {"id": np.array([501, 502, 503]), "customer_id": np.array([first.id, first.id, second.id]),
             "level": np.array(["C2", "C4", "C3"]), "score": np.array([33, 71, 50]), "assessed_on": days,
             "valid_until": days + np.timedelta64(730, "D"), "channel": np.array(["app", "web", "branch"])}
    conn = session.connection()
    with pytest.raises(ValueError, match="behaviour_events"):
        service.load_frames(conn, {"risk_assessments": frame, "behaviour_events": {"id": [1]}})
    assert service.load_frames(conn, {"risk_assessments": frame}) == {"risk_assessments": 3}
    session.commit()
    copies = {r.customer_id: (r.assessment_id, r.level, r.assessed_on, r.assessments)
              for r in session.scalars(select(AssessedRisk))}
    assert copies == {first.id: (502, "C4", date(2026, 6, 30), 2), second.id: (503, "C3", date(2026, 1, 15), 1)}
