"""The quote feed for operators: a feed that stopped posting during the session, and its lag."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.market.models import Quote
from brokercare.market.store import as_utc
from brokercare.market.valuation import expected_since


def _newest(session: Session) -> dict[str, datetime]:
    rows = session.execute(select(Quote.source, func.max(Quote.time)).group_by(Quote.source)).all()
    return {source: as_utc(at) for source, at in rows if at is not None}


def warnings(session: Session, now: datetime) -> list[str]:
    """A live feed that has posted before but not since the market last traded (no feed at all is
    a valid setup: prices are then the loaded closes, labelled with their day)."""
    newest = _newest(session).get("feed")
    if newest is None or newest >= expected_since(now):
        return []
    return [f"quotes: the newest live quote is from {newest.astimezone(SHANGHAI):%Y-%m-%d %H:%M}, the "
            f"market traded since {expected_since(now).astimezone(SHANGHAI):%Y-%m-%d %H:%M}: is the "
            "market-data gateway posting to /api/v1/market/quotes? (prices are shown as not live)"]


def metrics(session: Session, now: datetime) -> Iterator[GaugeMetricFamily]:
    lag = GaugeMetricFamily("brokercare_quote_lag_seconds",
                            "Age of the newest stored price, by source (feed: live quotes; close: loaded bars).",
                            labels=["source"])
    for source, at in sorted(_newest(session).items()):
        lag.add_metric([source], max((now - at).total_seconds(), 0.0))
    yield lag
