"""The monitoring domain's public face: what other domains, the web pages and tools call.

The work lives in named modules: ``preferences`` (customers' alert rules), ``book`` (the universe,
the columnar book and the day's reference data), ``engine`` (the vectorised evaluator), ``alerts``
(findings to alerts, margin calls and notifications), ``temperature`` (market temperature),
``ipo`` (打新 quotas and reminders) and ``watchlists`` (the risk desk's lists).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.monitoring import ipo
from brokercare.monitoring.alerts import Recorded as Recorded
from brokercare.monitoring.alerts import alerts_of as alerts_of
from brokercare.monitoring.alerts import margin_calls_of as margin_calls_of
from brokercare.monitoring.alerts import record_findings as record_findings
from brokercare.monitoring.alerts import record_snapshot as record_snapshot
from brokercare.monitoring.book import load_book as load_book
from brokercare.monitoring.book import load_universe as load_universe
from brokercare.monitoring.book import market_info as market_info
from brokercare.monitoring.explain import below as below
from brokercare.monitoring.ipo_loading import ipo_issues_spec as ipo_issues_spec
from brokercare.monitoring.ipo_notes import next_day_notes as next_day_notes
from brokercare.monitoring.models import IpoIssue
from brokercare.monitoring.preferences import daily_report_subscribers as daily_report_subscribers
from brokercare.monitoring.preferences import get_preferences as get_preferences
from brokercare.monitoring.preferences import message_channels as message_channels
from brokercare.monitoring.preferences import set_preferences as set_preferences
from brokercare.monitoring.temperature import latest_temperatures as latest_temperatures
from brokercare.monitoring.temperature import record_temperatures as record_temperatures
from brokercare.monitoring.temperature import snapshot_temperatures as snapshot_temperatures
from brokercare.monitoring.temperature import temperature_history as temperature_history
from brokercare.monitoring.temperature import temperature_sentence as temperature_sentence
from brokercare.monitoring.watchlists import MarginWatch as MarginWatch
from brokercare.monitoring.watchlists import alerts_since as alerts_since
from brokercare.monitoring.watchlists import open_margin_calls as open_margin_calls
from brokercare.monitoring.watchlists import recent_alerts as recent_alerts
from brokercare.monitoring.watchlists import settle_margin_calls as settle_margin_calls


def ipo_quota(session: Session, customer_id: int, day: date | None = None) -> dict:
    """The customer's IPO subscription quotas for subscription day ``day`` (today in Shanghai by
    default) with the market values behind them and a plain-Chinese ``message``; see
    :func:`brokercare.monitoring.ipo.ipo_quota`."""
    return ipo.ipo_quota(session, customer_id, day or datetime.now(SHANGHAI).date())


def ipo_issues(session: Session, *, subscribe_on: date | None = None, listed_from: date | None = None,
               listed_to: date | None = None) -> list[dict]:
    """New issues on the calendar as plain rows (symbol, name, exchange, board, industry, price,
    subscribe_on, listing_on): those subscribing on a day, or listed within a range — what an
    IPO estimate compares an issue with."""
    stmt = select(IpoIssue).order_by(IpoIssue.subscribe_on, IpoIssue.code)
    if subscribe_on is not None:
        stmt = stmt.where(IpoIssue.subscribe_on == subscribe_on)
    if listed_from is not None:
        stmt = stmt.where(IpoIssue.listing_on >= listed_from)
    if listed_to is not None:
        stmt = stmt.where(IpoIssue.listing_on <= listed_to)
    return [{"code": i.code, "symbol": i.symbol, "name": i.name, "exchange": i.exchange, "board": i.board,
             "industry": i.industry, "price": i.price, "subscribe_on": i.subscribe_on, "listing_on": i.listing_on}
            for i in session.scalars(stmt)]
