"""The customer's own pages: chat with the assistant (handed to a person in real time over
server-sent events, on the same thread), alerts inbox, risk questionnaire, goals and proposals,
and the daily post-close report (only ever the signed-in customer's own)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from brokercare.core.bus import get_bus
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_session, session_factory, utcnow
from brokercare.core.errors import DomainError
from brokercare.core.journeys import journey_step
from brokercare.security.policy import Principal
from brokercare.web.errors import domain_error_response
from brokercare.web.sessions import customer_user

router = APIRouter(prefix="/me", include_in_schema=False)

#: How often the event stream looks for new messages (an agent's reply appears within this).
POLL_SECONDS = 1.0


def render(request: Request, name: str, user: Principal, status_code: int = 200, **ctx) -> HTMLResponse:
    from brokercare.web.pages import render as _render

    return _render(request, name, user, status_code=status_code, **ctx)


def _thread(session: Session, customer_id: int, after_id: int = 0) -> list:
    """Every message of the customer's recent conversations after ``after_id``, oldest first:
    one thread even when a conversation was closed and a new one opened."""
    from brokercare.service import service as conversations

    messages = []
    for conv in conversations.history_of_customer(session, customer_id, limit=5):
        messages.extend(conversations.messages_of(session, conv.id, after_id=after_id))
    return sorted(messages, key=lambda m: m.id)


@router.get("", response_class=HTMLResponse)
def chat_page(request: Request, user: Principal = Depends(customer_user),
              session: Session = Depends(get_session)) -> HTMLResponse:
    messages = _thread(session, user.customer_id)
    return render(request, "me/chat.html", user, messages=messages,
                  last_id=messages[-1].id if messages else 0)


@router.post("/messages")
def send(request: Request, text: str = Form(""), user: Principal = Depends(customer_user),
         session: Session = Depends(get_session)) -> Response:
    """Store the customer's message and route it; the thread shows it through the event stream."""
    from brokercare.service import service as conversations
    from brokercare.service.service import Identity, from_json_message

    text = text.strip()
    if not text:
        return HTMLResponse('<p class="error" role="alert">请输入您要咨询的问题。</p>', status_code=422)
    if len(text) > 2000:
        return HTMLResponse('<p class="error" role="alert">消息太长了，请分几条发送（每条不超过 2000 字）。</p>',
                            status_code=422)
    inbound = from_json_message("web", text, identities=[Identity("customer_id", str(user.customer_id), verified=True)])
    try:
        conversations.receive(session, inbound)
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    return HTMLResponse("", status_code=200)


def _new_messages_html(request: Request, customer_id: int, after_id: int) -> tuple[str, int]:
    from brokercare.web.pages import templates

    with session_factory()() as session:
        messages = _thread(session, customer_id, after_id)
    if not messages:
        return "", after_id
    html = templates.get_template("_thread.html").render(request=request, messages=messages)
    return html, messages[-1].id


@router.get("/events")
async def events(request: Request, after: int = 0, user: Principal = Depends(customer_user)) -> StreamingResponse:
    """Server-sent events: each new message of the thread (the AI's, a person's) as HTML."""
    customer_id = user.customer_id

    async def stream() -> AsyncIterator[str]:
        last = after
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            html, last = await run_in_threadpool(_new_messages_html, request, customer_id, last)
            if html:
                data = "\n".join(f"data: {line}" for line in html.splitlines())
                yield f"event: message\n{data}\n\n"
            else:
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, user: Principal = Depends(customer_user),
                session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.accounts.service import accounts_of, margin_status
    from brokercare.monitoring.service import alerts_of, margin_calls_of

    margin = [a.id for a in accounts_of(session, user.customer_id) if a.kind == "margin" and a.status != "closed"]
    states = []
    for account_id in margin:
        try:
            states.append(margin_status(session, account_id))
        except DomainError:  # a margin account without its contract: nothing to show
            continue
    calls = [c for c in margin_calls_of(session, margin) if c.status == "open"][:1] if margin else []
    return render(request, "me/alerts.html", user, alerts=alerts_of(session, user.customer_id, limit=50),
                  margins=states, calls=calls, today=utcnow().astimezone(SHANGHAI).date())


def questionnaire_step(customer_id: int, step: str) -> None:
    """The customer's risk-questionnaire journey reached ``step`` (the funnels, docs/quality.md):
    published at once, so answers the questionnaire then refuses still count as answered; the
    ``submitted`` step is the advisory domain's ``risk.assessed``, with the same day in its ref."""
    now = utcnow()
    get_bus().publish(journey_step("risk_questionnaire", step, customer_id=customer_id, channel="web", at=now,
                                   ref=f"risk:{customer_id}:{now.astimezone(SHANGHAI).date()}"))


@router.get("/risk", response_class=HTMLResponse)
def risk_page(request: Request, user: Principal = Depends(customer_user),
              session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.advisory import service as questionnaire

    questionnaire_step(user.customer_id, "started")
    return render(request, "me/risk.html", user, questions=questionnaire.questions(),
                  validity=questionnaire.validity(session, user.customer_id), result=None, answers={})


@router.post("/risk", response_class=HTMLResponse)
async def risk_submit(request: Request, user: Principal = Depends(customer_user),
                      session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.advisory import service as questionnaire

    form = await request.form()
    answers = {k[2:]: str(v) for k, v in form.items() if k.startswith("q_")}
    await run_in_threadpool(questionnaire_step, user.customer_id, "answered")
    round_ = 2 if form.get("round") == "2" else 1
    error = None
    result = None
    try:
        result = questionnaire.assess(session, user.customer_id, answers, round_=round_, channel="web")
        session.commit()
    except DomainError as exc:
        session.rollback()
        error = exc.detail
    return render(request, "me/risk.html", user, questions=questionnaire.questions(),
                  validity=questionnaire.validity(session, user.customer_id), result=result,
                  answers=answers, error=error, status_code=422 if error else 200)


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request, user: Principal = Depends(customer_user),
               session: Session = Depends(get_session)) -> HTMLResponse:
    return _plans(request, user, session)


def _plans(request: Request, user: Principal, session: Session, *, error: str | None = None,
           saved: list[str] | None = None, form: dict | None = None) -> HTMLResponse:
    from brokercare.advisory import service as advisory

    return render(request, "me/plans.html", user, goals=advisory.goals_of(session, user.customer_id),
                  advice=advisory.rebalance_advice(session, user.customer_id), goal_kinds=GOAL_KINDS,
                  error=error, saved=saved, form=form or {}, status_code=422 if error else 200)


#: The goals a customer sets on 我的规划 (advisory/data/goals.yaml), in the customer's words.
GOAL_KINDS = {"education": "子女教育金", "retirement": "养老", "house": "购房", "target_return": "目标收益"}


def _amount(text: str, what: str, *, required: bool = False) -> float:
    text = (text or "").replace(",", "").replace("，", "").strip()
    if not text:
        if required:
            raise ValueError(f"请填写{what}。")
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what}请填写数字（单位：元），例如 300000。") from None


@router.post("/goals", response_class=HTMLResponse)
def set_goal(request: Request, kind: str = Form(""), target_amount: str = Form(""), target_date: str = Form(""),
             current_value: str = Form(""), monthly: str = Form(""), user: Principal = Depends(customer_user),
             session: Session = Depends(get_session)) -> HTMLResponse:
    """我的目标: the customer sets a goal on the web; it is projected at once (达成概率) and every
    refusal (no valid risk assessment, a date in the past, a missing amount) is said on the page."""
    from datetime import date

    from brokercare.advisory import service as advisory

    form = {"kind": kind, "target_amount": target_amount, "target_date": target_date,
            "current_value": current_value, "monthly": monthly}
    try:
        if kind not in GOAL_KINDS:
            raise ValueError("请选择目标类型。")
        amount = _amount(target_amount, "目标金额", required=True)
        try:
            when = date.fromisoformat(target_date)
        except ValueError:
            raise ValueError("请选择目标日期。") from None
        if when <= utcnow().astimezone(SHANGHAI).date():
            raise ValueError("目标日期需要晚于今天。")
        row, projection = advisory.set_goal(session, user.customer_id, kind=kind, target_amount=amount,
                                            target_date=when, current_value=_amount(current_value, "已有资金"),
                                            monthly=_amount(monthly, "每月投入"), name=GOAL_KINDS[kind])
        session.commit()
    except (ValueError, DomainError) as exc:
        session.rollback()
        return _plans(request, user, session, error=getattr(exc, "detail", None) or str(exc), form=form)
    return _plans(request, user, session, saved=[f"已保存目标“{row.name}”。{projection.message}",
                                                 *(a.message for a in projection.adjustments)])


def _daily_report(session: Session, user: Principal, day: str) -> dict:
    from datetime import date

    from brokercare.core.errors import NotFound
    from brokercare.engagement import service as engagement

    try:
        when = engagement.latest_day() if day == "latest" else date.fromisoformat(day)
    except ValueError:
        raise NotFound(f"“{day}”不是有效的日期，请使用 2026-06-16 这样的格式") from None
    return engagement.report_for(session, user.customer_id, when)


@router.get("/reports/daily/{day}.pdf")
def daily_report_pdf(request: Request, day: str, user: Principal = Depends(customer_user),
                     session: Session = Depends(get_session)) -> Response:
    from brokercare.engagement import service as engagement

    try:
        doc = _daily_report(session, user, day)
    except DomainError as exc:
        return render(request, "me/daily_report.html", user, error=exc.detail, day=day, css="",
                      status_code=exc.status_code)
    return Response(engagement.report_pdf(doc), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="daily-report-{doc["day"]}.pdf"'})


@router.get("/reports/daily/{day}", response_class=HTMLResponse)
def daily_report_page(request: Request, day: str, user: Principal = Depends(customer_user),
                      session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.engagement import service as engagement

    try:
        doc = _daily_report(session, user, day)
    except DomainError as exc:
        return render(request, "me/daily_report.html", user, error=exc.detail, day=day, css="",
                      status_code=exc.status_code)
    body, css = engagement.report_html(doc)
    return render(request, "me/daily_report.html", user, body=body, day=doc["day"], css=css)
