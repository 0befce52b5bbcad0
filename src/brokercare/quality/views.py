"""The quality domain's start-up: the journey steps other domains publish are stored for the
funnels; the month's KPIs and funnels as JSON for supervisors (the KPI page itself is in the
staff workbench, web/workbench.py)."""

from __future__ import annotations

import polars as pl
from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.journeys import JOURNEY_LABELS
from brokercare.quality import journeys, service
from brokercare.security.policy import Principal, require_roles


def startup() -> None:
    """Subscribe the journey-step recorder to the bus (``journey.step``, ``risk.assessed``,
    ``transfer.completed``)."""
    journeys.subscribe()


SUPERVISORS = ("team_lead", "compliance", "admin")
router = APIRouter(prefix="/quality", tags=["quality"])


def _rows(frame: pl.DataFrame) -> list[dict]:
    return frame.to_dicts()


@router.get("/kpis", summary="The month's service-quality KPIs, overall and per slice (docs/quality.md)")
def month_kpis(month: str = Query(..., examples=["2026-11"]), _user: Principal = Depends(require_roles(*SUPERVISORS)),
               session: Session = Depends(get_session)) -> dict:
    report = service.month_kpis(session, month)
    return {"month": month, "overall": report.overall, "sla_open_at_risk": report.sla_open_at_risk,
            "slices": {dim: _rows(frame) for dim, frame in report.slices.items()}}


@router.get("/funnels", summary="Each customer journey's funnel of the month, with its drop-out steps")
def month_funnels(month: str = Query(..., examples=["2026-11"]), _user: Principal = Depends(require_roles(*SUPERVISORS)),
                  session: Session = Depends(get_session)) -> list[dict]:
    start, end = service.month_window(month)
    return [{"journey": f.journey, "label": JOURNEY_LABELS[f.journey], "started": f.started, "completed": f.completed,
             "previous_started": f.previous_started, "previous_completed": f.previous_completed,
             "steps": _rows(f.steps), "drop_outs": {dim: _rows(frame) for dim, frame in f.drop_outs.items()}}
            for f in service.funnels(session, start, end)]
