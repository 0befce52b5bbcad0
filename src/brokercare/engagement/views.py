"""The engagement API: a customer manager's leads (read, and move on to their outcome) and tasks.

Only customer managers, and each only the leads and tasks assigned to them: a lead's reason
carries the customer's cash and assets (data class 3), which a team lead may see only after a
step-up and an administrator not at all; conversion figures for the team are the quality
domain's, as aggregates.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import PermissionDenied
from brokercare.engagement import calculators, content_views, service
from brokercare.engagement.schemas import (
    BenefitOut,
    DividendTaxIn,
    DividendTaxOut,
    GoalIn,
    GoalOut,
    IpoEstimateOut,
    LeadOut,
    LeadUpdate,
    LoanIn,
    LoanOut,
    LotTaxOut,
    TaskOut,
    TeamMemberOut,
)
from brokercare.security.policy import Principal, current_user, require_roles

router = APIRouter(prefix="/engagement", tags=["engagement"])

managers = require_roles("customer_manager")


def _lead_out(lead, labels: dict[str, str]) -> LeadOut:
    out = LeadOut.model_validate(lead)
    out.need_label = labels.get(lead.need, lead.need)
    return out


@router.get("/leads", response_model=list[LeadOut], summary="Leads, newest and most likely first")
def list_leads(state: str | None = Query(None, description="new, contacted, won or lost"),
               user: Principal = Depends(managers), session: Session = Depends(get_session)) -> list[LeadOut]:
    labels = service.need_labels()
    return [_lead_out(x, labels) for x in service.leads_of(session, manager_id=user.id, state=state)]


@router.post("/leads/{lead_id}/state", response_model=LeadOut, summary="Record a contact or the outcome")
def move_lead(lead_id: int, body: LeadUpdate, user: Principal = Depends(managers),
              session: Session = Depends(get_session)) -> LeadOut:
    lead = service.update_lead(session, lead_id, state=body.state, outcome=body.outcome, amount=body.amount,
                               by_manager=user.id)
    session.commit()
    return _lead_out(lead, service.need_labels())


@router.get("/tasks", response_model=list[TaskOut], summary="Tasks by due time (open ones by default)")
def list_tasks(state: str | None = Query("open", pattern="^(open|done)$"),
               user: Principal = Depends(managers), session: Session = Depends(get_session)) -> list[TaskOut]:
    return [TaskOut.model_validate(t).model_copy(update={"overdue": service.is_overdue(t)})
            for t in service.tasks_of(session, manager_id=user.id, state=state)]


@router.post("/tasks/{task_id}/done", response_model=TaskOut, summary="Mark a task done")
def finish_task(task_id: int, user: Principal = Depends(managers), session: Session = Depends(get_session)) -> TaskOut:
    task = service.complete_task(session, task_id, by_manager=user.id)
    session.commit()
    return TaskOut.model_validate(task)


@router.get("/customers/{customer_id}/team", response_model=list[TeamMemberOut],
            summary="A VIP customer's 1+N team: their manager, then a specialist per skill")
def customer_team(customer_id: int, user: Principal = Depends(managers),
                  session: Session = Depends(get_session)) -> list[TeamMemberOut]:
    return [TeamMemberOut.model_validate(m) for m in service.team_of(session, customer_id, manager_id=user.id)]


@router.get("/ipo-estimates", response_model=list[IpoEstimateOut],
            summary="First-day estimates of the new shares subscribing on a day, from comparable listings")
def ipo_estimates(day: date = Query(..., alias="date", description="Subscription day, YYYY-MM-DD"),
                  _user: Principal = Depends(current_user),
                  session: Session = Depends(get_session)) -> list[IpoEstimateOut]:
    return [IpoEstimateOut.model_validate(e) for e in service.ipo_estimates(session, day=day)]


# --- calculators (any signed-in user: they read no one's data) --------------------------------

@router.post("/calculators/dividend-tax", response_model=DividendTaxOut,
             summary="Dividend tax withheld on a sale, by holding period (first in, first out)")
def dividend_tax(body: DividendTaxIn, _user: Principal = Depends(current_user)) -> DividendTaxOut:
    lots = calculators.dividend_tax([calculators.Lot(x.bought_on, x.shares) for x in body.lots],
                                    body.dividend_per_share, body.sold_shares, body.sold_on)
    return DividendTaxOut(lots=[LotTaxOut.model_validate(x) for x in lots], total_tax=sum(x.tax for x in lots))


@router.post("/calculators/loan", response_model=LoanOut, summary="A loan's monthly payments")
def loan(body: LoanIn, _user: Principal = Depends(current_user)) -> LoanOut:
    return LoanOut.model_validate(calculators.loan(body.principal, body.annual_rate, body.years, body.method))


@router.post("/calculators/goal", response_model=GoalOut, summary="The monthly saving a goal needs")
def goal(body: GoalIn, _user: Principal = Depends(current_user)) -> GoalOut:
    return GoalOut.model_validate(calculators.goal(body.target, body.years, body.annual_return, body.saved))


@router.get("/customers/{customer_id}/benefits", response_model=list[BenefitOut],
            summary="The customer's welcome benefits and what is left of each (the customer only)")
def customer_benefits(customer_id: int, user: Principal = Depends(current_user),
                      session: Session = Depends(get_session)) -> list[BenefitOut]:
    if user.role != "customer" or user.customer_id != customer_id:
        raise PermissionDenied("只有客户本人可以查看开户礼包。")
    return [BenefitOut.model_validate(b) for b in service.benefits_of(session, customer_id)]


router.include_router(content_views.router)  # the education library and the communities


def startup() -> None:
    """Welcome new accounts and spend waivers on trades (engagement/handlers.py)."""
    from brokercare.engagement.handlers import subscribe_handlers

    subscribe_handlers()
