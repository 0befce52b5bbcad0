"""The quality domain's start-up: the journey steps other domains publish are stored for the
funnels; the month's KPIs and funnels as JSON for supervisors (the KPI page itself is in the
staff workbench, web/workbench.py)."""

from __future__ import annotations

import polars as pl
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import PermissionDenied
from brokercare.core.journeys import JOURNEY_LABELS
from brokercare.quality import churn_model, journeys, managers, scorecards, service
from brokercare.security.policy import STAFF_ROLES, Principal, require_roles


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


class ReviewIn(BaseModel):
    conversation_id: int
    scores: dict[str, int]  # every criterion of scorecards.CRITERIA, 1..5
    comment: str | None = Field(None, max_length=2000)


@router.get("/scorecards/{agent_id}", summary="An agent's scorecard of the month (the agent, their lead, admins)")
def scorecard(agent_id: int, month: str = Query(..., examples=["2026-11"]),
              user: Principal = Depends(require_roles(*STAFF_ROLES)), session: Session = Depends(get_session)) -> dict:
    return scorecards.agent_scorecard(session, user, agent_id, *service.month_window(month))


@router.post("/reviews/sample", summary="Draw closed conversations of the lead's team for review (kept as the lead's to-review list)")
def sample(month: str = Query(..., examples=["2026-11"]), n: int = Query(5, ge=1, le=100),
           user: Principal = Depends(require_roles("team_lead", "admin")),
           session: Session = Depends(get_session)) -> dict:
    drawn = scorecards.sample_for_review(session, user, *service.month_window(month), n=n)
    session.commit()
    return {"conversation_ids": drawn, "criteria": scorecards.CRITERIA}


@router.post("/reviews", status_code=201, summary="The lead's review form for one sampled conversation")
def review(body: ReviewIn, user: Principal = Depends(require_roles("team_lead", "admin")),
           session: Session = Depends(get_session)) -> dict:
    done = scorecards.record_review(session, user, body.conversation_id, body.scores, comment=body.comment)
    session.commit()
    return {"id": done.id, "agent_id": done.agent_id, "total": done.total}


@router.get("/lead-conversion", summary="Proactive lead conversion of the month, by manager and need (docs/quality.md)")
def lead_conversion(month: str = Query(..., examples=["2026-11"]), _user: Principal = Depends(require_roles(*SUPERVISORS)),
                    session: Session = Depends(get_session)) -> dict:
    found = managers.lead_conversion(session, *service.month_window(month))
    return {"month": month, **{part: _rows(frame) for part, frame in found.items()}}


@router.get("/managers/{manager_id}/scorecard",
            summary="A customer manager's scorecard of the month (the manager, their lead, admins)")
def manager_scorecard(manager_id: int, month: str = Query(..., examples=["2026-11"]),
                      user: Principal = Depends(require_roles(*STAFF_ROLES)),
                      session: Session = Depends(get_session)) -> dict:
    return managers.manager_scorecard(session, user, manager_id, *service.month_window(month))


@router.get("/churn/top", summary="The latest night's riskiest customers with the reasons (the manager's own, "
            "their lead's managers', anyone's for admins)")
def churn_top(manager_id: int | None = Query(None), limit: int = Query(20, ge=1, le=500),
              user: Principal = Depends(require_roles("customer_manager", "team_lead", "admin")),
              session: Session = Depends(get_session)) -> list[dict]:
    if user.role == "customer_manager" and manager_id is None:
        manager_id = user.id
    if user.role != "admin" and (manager_id is None or not scorecards.may_see(session, user, manager_id)):
        raise PermissionDenied("churn risks are seen by the customer manager, their team lead and admins")
    return [{"customer_id": r.customer_id, "manager_id": r.manager_id, "scored_on": r.scored_on.isoformat(),
             "score": round(r.score, 4), "top_5_percent": r.top_share, "reasons": r.reasons}
            for r in churn_model.top_risks(session, manager_id=manager_id, limit=limit)]
