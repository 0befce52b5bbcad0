"""The relationship monitoring records for the security policy (:mod:`brokercare.security.access`
discovers ``PROVIDERS``): the risk desk reaches a margin customer while one of their accounts has
an open margin call (the margin watchlist)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.service import accounts_of
from brokercare.monitoring.models import MarginCall
from brokercare.security.access import MARGIN_WATCH, Provider


def _on_watchlist(session: Session, staff_id: int, customer_id: int) -> str | None:
    margin = [a.id for a in accounts_of(session, customer_id) if a.kind == "margin"]
    if not margin:
        return None
    call_id = session.scalar(select(MarginCall.id).where(
        MarginCall.account_id.in_(margin), MarginCall.status == "open").limit(1))
    return None if call_id is None else f"margin_call:{call_id}"


PROVIDERS = (Provider(MARGIN_WATCH, frozenset({"risk"}), _on_watchlist),)
