"""A customer manager's page in the workbench: today's emergency tasks with their 15-minute
clocks and scripts, and the leads the nightly rules raised for their customers, each moved on to
its outcome from the page (the same service calls and rules as the engagement API)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from brokercare.core.database import get_session, utcnow
from brokercare.core.errors import DomainError, ValidationFailed
from brokercare.customers.service import get_customers
from brokercare.engagement import service as engagement
from brokercare.security.policy import Principal
from brokercare.web.errors import domain_error_response
from brokercare.web.sessions import staff_user

router = APIRouter(prefix="/workbench", include_in_schema=False)


def manager_user(user: Principal = Depends(staff_user)) -> Principal:
    if user.role != "customer_manager":
        raise HTTPException(status_code=403, detail="此页面仅限客户经理使用（线索含客户资产等敏感信息）。")
    return user


@router.get("/leads", response_class=HTMLResponse)
def leads_page(request: Request, user: Principal = Depends(manager_user),
               session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.web.workbench import render

    leads = engagement.leads_of(session, manager_id=user.id)
    tasks = engagement.tasks_of(session, manager_id=user.id)
    names = {c.id: c.name for c in get_customers(session, sorted({x.customer_id for x in [*leads, *tasks]}))}
    now = utcnow()
    return render(request, "workbench/leads.html", user, leads=leads, tasks=tasks, names=names,
                  needs=engagement.need_labels(), states=engagement.LEAD_STATE_LABELS,
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
