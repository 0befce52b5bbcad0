from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from tests.monitoring.brokerage import small_brokerage

from brokercare.monitoring import demo
from brokercare.monitoring.models import IpoIssue, MarketValueDaily


def test_demo_history(engine, session):
    small_brokerage(session, 30)
    session.commit()
    summary: dict = {}
    demo.generate(engine, np.random.default_rng(7), summary)
    assert "monitoring:" in summary["monitoring"]
    issues = session.scalars(select(IpoIssue)).all()
    assert len(issues) >= 10
    assert all("modelled" in i.source and i.payment_on > i.subscribe_on for i in issues)
    assert session.scalar(select(func.count()).select_from(MarketValueDaily)) > 0
