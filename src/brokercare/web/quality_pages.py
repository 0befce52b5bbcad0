"""The service-quality scorecards page (seed 3.2): an agent reads their own month, a team lead
their team's — and draws closed conversations of the team for review and fills in the review
form beside each — an admin every agent's. The same scorecard functions as the quality API."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_session, utcnow
from brokercare.core.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from brokercare.quality import service as quality
from brokercare.security.policy import Principal
from brokercare.security.service import users_by_id
from brokercare.web.errors import domain_error_response, error_response
from brokercare.web.sessions import staff_user

router = APIRouter(prefix="/workbench", include_in_schema=False)
SCORECARD_ROLES = ("agent", "team_lead", "admin")
SAMPLE_SIZE = 5


def desk_staff(user: Principal = Depends(staff_user)) -> Principal:
    if user.role not in SCORECARD_ROLES:
        raise HTTPException(status_code=403, detail="服务计分卡供坐席、团队主管和系统管理员查看；客户经理的计分卡在“线索与待办”页。")
    return user


def _month(month: str | None) -> str:
    return month or f"{utcnow().astimezone(SHANGHAI):%Y-%m}"


def _window(month: str) -> tuple[datetime, datetime]:
    try:
        return quality.month_window(month)
    except DomainError:
        raise ValidationFailed("月份请按“2026-11”的格式填写。") from None


@router.get("/scorecards", response_class=HTMLResponse)
def scorecards_page(request: Request, month: str | None = None, user: Principal = Depends(desk_staff),
                    session: Session = Depends(get_session)) -> Response:
    month = _month(month)
    try:
        start, end = _window(month)
    except DomainError as exc:
        return domain_error_response(request, exc)
    cards = quality.visible_scorecards(session, user, start, end)
    waiting = quality.waiting_reviews(session, user) if user.role in ("team_lead", "admin") else []
    names = {uid: u.display_name or u.username for uid, u in users_by_id(session, {w.agent_id for w in waiting}).items()}
    from brokercare.web.workbench import render

    return render(request, "workbench/scorecards.html", user, month=month, cards=cards, waiting=waiting,
                  agent_names=names, criteria=quality.REVIEW_CRITERIA, fmt=quality.display, sample_size=SAMPLE_SIZE)


@router.post("/scorecards/sample")
def draw_sample(request: Request, month: str = Form(...), user: Principal = Depends(desk_staff),
                session: Session = Depends(get_session)) -> Response:
    try:
        if user.role not in ("team_lead", "admin"):
            raise PermissionDenied("只有团队主管和系统管理员可以抽取会话进行质检。")
        drawn = quality.draw_review_sample(session, user, *_window(month), n=SAMPLE_SIZE)
        if not drawn:
            raise ValidationFailed(f"{month} 没有可抽检的会话：团队本月由人工处理并已结束的会话都已抽过或评过。")
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    return RedirectResponse(f"/workbench/scorecards?month={month}#reviews", status_code=303)


@router.post("/reviews/{conversation_id}")
async def submit_review(request: Request, conversation_id: int, user: Principal = Depends(desk_staff),
                        session: Session = Depends(get_session)) -> Response:
    form = await request.form()
    try:
        scores = {key: int(str(form.get(key, ""))) for key in quality.REVIEW_CRITERIA}
    except ValueError:
        return error_response(request, 422, "请为每一项评分（1–5 分）后再提交。")
    if not all(1 <= v <= 5 for v in scores.values()):
        return error_response(request, 422, "每一项评分应在 1 到 5 分之间。")
    try:
        quality.review_conversation(session, user, conversation_id, scores, comment=str(form.get("comment", "")))
    except Conflict:
        session.rollback()
        return error_response(request, 409, "这个会话已经评过了。")
    except PermissionDenied:
        session.rollback()
        return error_response(request, 403, "只有该坐席的团队主管或系统管理员可以评这个会话。")
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    return RedirectResponse(f"/workbench/scorecards?month={form.get('month') or _month(None)}", status_code=303)
