"""The demo's IPO calendar shows first-day estimates: comparable listings of the last months
are loaded through the broker's own IPO import and bar loader, and the estimates of the
calendar's STAR and ChiNext issues then come from them."""

from __future__ import annotations

from datetime import date

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.calendar import add_trading_days
from brokercare.engagement import demo_listings
from brokercare.engagement.ipo_estimate import LOOKBACK_DAYS, estimates_for
from brokercare.monitoring.demo import ipo_calendar
from brokercare.monitoring.models import IpoIssue

TODAY = date(2026, 11, 30)


def test_the_demo_calendar_gets_estimates_from_loaded_comparables(engine):
    with Session(engine) as session:
        ipo_calendar(session, TODAY, np.random.default_rng(5))
        session.commit()
        calendar = set(session.scalars(select(IpoIssue.symbol)))
    loaded = demo_listings.load(engine, TODAY, np.random.default_rng(7))
    assert loaded == len(demo_listings.listings()) - len(calendar & {r["ts_code"] for r in demo_listings.listings()})
    with Session(engine) as session:
        rows = session.scalars(select(IpoIssue).where(IpoIssue.symbol.notin_(calendar))).all()
        assert all(TODAY.toordinal() - LOOKBACK_DAYS < r.listing_on.toordinal() < TODAY.toordinal() for r in rows)
        assert all("modelled" in r.source for r in rows)
        found = [e for k in range(-3, 10) for e in estimates_for(session, add_trading_days(TODAY, k))]
    growth = [e for e in found if e.code.startswith(("787", "30"))]
    assert growth and all(e.median is not None and e.comparables >= 3 for e in growth)
    assert all("上市首日涨幅的中位数" in e.text and "不代表未来表现" in e.text for e in growth)
    assert demo_listings.load(engine, TODAY, np.random.default_rng(7)) == 0  # loaded again: nothing new
