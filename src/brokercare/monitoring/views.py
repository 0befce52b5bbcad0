"""The monitoring API: alerts, alert rules, IPO quota and calendar, margin calls (the message
centre is the outbox's)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.accounts.service import accounts_of
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_session, utcnow
from brokercare.core.errors import PermissionDenied, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.monitoring import ipo, preferences, temperature
from brokercare.monitoring.alerts import alerts_of, margin_calls_of
from brokercare.monitoring.live import subscribe_in_process
from brokercare.monitoring.schemas import (
    AlertOut,
    ApplicationIn,
    IpoIssueOut,
    MarginCallOut,
    MarketTemperatureOut,
    PreferencesIn,
    PreferencesOut,
)
from brokercare.security.access import ReadLog, Reads, customer_reader
from brokercare.security.policy import Principal, current_user

router = APIRouter(prefix="/monitoring", tags=["monitoring"])


def startup() -> None:
    """On the embedded default (no Redis bus) evaluate each accepted quote snapshot here; with
    ``BROKERCARE_BUS_URL=redis://...`` the sharded workers do and this process does not. The
    holdings book is loaded now, before the server takes traffic, unless the warm-up is off."""
    monitor = subscribe_in_process()
    if monitor is not None and get_settings().warm_up:
        monitor.preload()


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


@router.get("/customers/{customer_id}/alerts", response_model=list[AlertOut])
def list_alerts(
    customer_id: int,
    limit: int = Query(50, ge=1, le=500),
    _: ReadLog = Depends(customer_reader("alerts")),
    session: Session = Depends(get_session),
):
    return alerts_of(session, customer_id, limit)


@router.get("/customers/{customer_id}/preferences", response_model=PreferencesOut)
def get_preferences(
    customer_id: int,
    _: ReadLog = Depends(customer_reader("alert_settings")),
    session: Session = Depends(get_session),
):
    return preferences.get_preferences(session, customer_id)


@router.put("/customers/{customer_id}/preferences", response_model=PreferencesOut)
def put_preferences(
    customer_id: int,
    body: PreferencesIn,
    reads: Reads,
    session: Session = Depends(get_session),
):
    reads.act(customer_id, "alert_settings.change")
    changes = body.model_dump(exclude_unset=True)
    out = preferences.set_preferences(session, customer_id, **changes)
    reads.flush(commit=False)  # the act and its ledger entry in one transaction
    session.commit()
    return out


@router.get("/customers/{customer_id}/ipo-quota")
def ipo_quota(
    customer_id: int,
    day: date | None = None,
    _: ReadLog = Depends(customer_reader("ipo_quota")),
    session: Session = Depends(get_session),
) -> dict:
    return ipo.ipo_quota(session, customer_id, day or _today())


@router.get("/ipo/calendar", response_model=list[IpoIssueOut])
def ipo_calendar(
    start: date | None = None,
    days: int = Query(14, ge=1, le=90),
    _user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
):
    return ipo.upcoming(session, start or _today(), days)


@router.post("/customers/{customer_id}/ipo-applications", status_code=201)
def ipo_apply(
    customer_id: int,
    body: ApplicationIn,
    user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
) -> dict:
    if not (user.role == "customer" and user.customer_id == customer_id):
        raise PermissionDenied("新股申购只能由客户本人提交。")
    app = ipo.apply(session, customer_id, body.issue_code, body.shares, body.day or _today())
    session.commit()
    return {
        "id": app.id,
        "issue_code": body.issue_code,
        "shares": app.shares,
        "quota": app.quota,
        "status": app.status,
    }


@router.get("/customers/{customer_id}/margin-calls", response_model=list[MarginCallOut])
def margin_calls(
    customer_id: int,
    _: ReadLog = Depends(customer_reader("margin_calls")),
    session: Session = Depends(get_session),
):
    return margin_calls_of(session, [a.id for a in accounts_of(session, customer_id)])


@router.get("/temperature", response_model=MarketTemperatureOut)
def market_temperature(
    board: str | None = Query(None, description="main, chinext, star or bse; all when omitted"),
    history_minutes: int = Query(60, ge=0, le=4320),
    user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
):
    """The latest market temperature of each board (0-100, with its band) and a short history.

    Market-wide and the same for everyone, so any signed-in user may read it."""
    if board is not None and board not in temperature.BOARD_NAMES:
        raise ValidationFailed(
            "板块只能是 main（主板）、chinext（创业板）、star（科创板）或 bse（北交所）。"
        )
    latest = temperature.latest_temperatures(session, None if board is None else [board])
    history = (
        {b: temperature.temperature_history(session, b, history_minutes) for b in latest}
        if history_minutes
        else {}
    )
    return {"boards": list(latest.values()), "history": history}
