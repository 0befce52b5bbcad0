"""``GET /api/v1/data/summary``: what the platform holds, for operators checking a load."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import func, select, table
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.security.policy import require_roles

router = APIRouter(tags=["data"])

_TABLES = ("customers", "accounts", "margin_contracts", "positions", "orders", "trades",
           "cash_movements", "behaviour_events", "risk_assessments", "instruments")


@router.get("/data/summary", summary="Row counts of the core tables (operators)")
def data_summary(session: Session = Depends(get_session),
                 _user=Depends(require_roles("admin", "team_lead", "risk", "compliance"))) -> dict:
    counts = {t: session.scalar(select(func.count()).select_from(table(t))) or 0 for t in _TABLES}
    return {"counts": counts}
