"""A customer manager's page in the workbench: open tasks — emergencies with their 15-minute
clocks, quarterly reviews and goal or package follow-ups with their due dates, overdue ones
marked — with their scripts; the leads the nightly rules raised for their customers, each moved
on to its outcome from the page (the same service calls and rules as the engagement API); the
customers the nightly churn model finds most at risk with the reasons; and the month's own
scorecard."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_session, utcnow
from brokercare.core.errors import DomainError, ValidationFailed
from brokercare.customers.service import get_customers
from brokercare.engagement import service as engagement
from brokercare.security.policy import Principal
from brokercare.web.errors import domain_error_response
from brokercare.web.sessions import staff_user

router = APIRouter(prefix="/workbench", include_in_schema=False)
RISKS_SHOWN = 10


def manager_user(user: Principal = Depends(staff_user)) -> Principal:
    if user.role != "customer_manager":
        raise HTTPException(status_code=403, detail="此页面仅限客户经理使用（线索含客户资产等敏感信息）。")
    return user


@router.get("/leads", response_class=HTMLResponse)
def leads_page(request: Request, user: Principal = Depends(manager_user),
               session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.quality import service as quality
    from brokercare.web.workbench import render

    leads = engagement.leads_of(session, manager_id=user.id)
    tasks = engagement.tasks_of(session, manager_id=user.id)
    risks = quality.top_churn_risks(session, manager_id=user.id, limit=RISKS_SHOWN)
    ids = sorted({x.customer_id for x in [*leads, *tasks, *risks]})
    names = {c.id: c.name for c in get_customers(session, ids)}
    now = utcnow()
    card = quality.manager_scorecard(session, user, user.id, *quality.month_window(f"{now.astimezone(SHANGHAI):%Y-%m}"))
    return render(request, "workbench/leads.html", user, leads=leads, tasks=tasks, names=names, risks=risks,
                  card=card, needs=engagement.need_labels(), states=engagement.LEAD_STATE_LABELS,
                  kinds=engagement.TASK_KIND_LABELS,
                  overdue={t.id for t in tasks if engagement.is_overdue(t, now)},
                  minutes_left={t.id: int((t.due_at - now).total_seconds() // 60) for t in tasks})


def _amount(text: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise ValidationFailed("成交金额请填写数字（元）") from None


@router.post("/leads/{lead_id}/state")
def move_lead(request: Request, lead_id: int, state: str = Form(...), outcome: str = Form(""),
              amount: str = Form(""), user: Principal = Depends(manager_user),
              session: Session = Depends(get_session)) -> Response:
    try:
        engagement.update_lead(session, lead_id, state=state, outcome=outcome, amount=_amount(amount),
                               by_manager=user.id)
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    return RedirectResponse("/workbench/leads", status_code=303)


@router.post("/tasks/{task_id}/done")
def finish_task(request: Request, task_id: int, user: Principal = Depends(manager_user),
                session: Session = Depends(get_session)) -> Response:
    try:
        engagement.complete_task(session, task_id, by_manager=user.id)
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    return RedirectResponse("/workbench/leads", status_code=303)
