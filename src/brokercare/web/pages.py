"""Server-rendered pages (Jinja2 + HTMX): the staff workbench and the customer's page.

Mounted by ``api.create_app`` through domain discovery. Pages call the same domain services
the API does; nothing is fetched from outside the platform (scripts and charts are vendored
under ``static/vendor``).
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_session
from brokercare.core.errors import AuthenticationFailed
from brokercare.monitoring.service import below as ratio_below
from brokercare.security import service as security_service
from brokercare.security.policy import ROLE_LABELS, Principal, issue_token
from brokercare.service.service import CHANNEL_ZH
from brokercare.web import errors, protection
from brokercare.web.errors import chinese
from brokercare.web.sessions import COOKIE, STAFF_ROLES, LoginRequired, at_desk, page_user

_root = resources.files("brokercare.web")
templates = Jinja2Templates(directory=str(_root.joinpath("templates")))
templates.env.globals["ROLE_LABELS"] = ROLE_LABELS
templates.env.globals["CHANNEL_LABELS"] = CHANNEL_ZH
# How the outbox's delivery of a reply reads beside it in the conversation.
templates.env.globals["DELIVERY_LABELS"] = {"pending": "待发送", "sending": "发送中", "sent": "已发出",
                                            "failed": "发送失败，将重试", "dead": "未送达"}


def _local(moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Render an aware UTC time in Beijing time, as staff and customers read it."""
    return "" if moment is None else moment.astimezone(SHANGHAI).strftime(fmt)


def _yuan(value, digits: int = 2) -> str:
    """12345.6 → 12,345.60; 1.2e8 stays exact (Decimal) and grouped."""
    return "—" if value is None else f"{value:,.{digits}f}"


def _minutes(minutes: int | None) -> str:
    """A span as staff read it: 12 分钟, 3 小时 5 分, 3 天 22 小时."""
    if minutes is None:
        return "—"
    m = abs(int(minutes))
    if m < 60:
        return f"{m} 分钟"
    if m < 24 * 60:
        return f"{m // 60} 小时 {m % 60} 分" if m % 60 else f"{m // 60} 小时"
    days, hours = divmod(m // 60, 24)
    return f"{days} 天 {hours} 小时" if hours else f"{days} 天"


templates.env.filters["local"] = _local
templates.env.filters["minutes"] = _minutes
templates.env.filters["ratio_below"] = ratio_below  # a margin ratio as the customer's message writes it
templates.env.filters["yuan"] = _yuan


def _intent_label(intent: str | None) -> str:
    from brokercare.assistant.service import describe

    return "—" if not intent else describe(intent)


templates.env.filters["intent"] = _intent_label

router = APIRouter(include_in_schema=False)


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (asgi-csrf sets its cookie on the response that asks for it)."""
    token = request.scope.get("csrftoken")
    return token() if callable(token) else ""


def render(request: Request, name: str, user: Principal | None = None, status_code: int = 200, **ctx) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, "csrf_token": csrf_token(request), **ctx},
                                      status_code=status_code)


# Where each role's work is when they log in (the rest of staff: the conversation queue).
LANDINGS = {"risk": "/workbench/alerts", "compliance": "/workbench/access-reads",
            "customer_manager": "/workbench/leads", "admin": "/workbench/admin"}


def home_of(user: Principal) -> str:
    if user.role not in STAFF_ROLES:
        return "/me"
    return LANDINGS.get(user.role, "/workbench")


@router.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico on pages that do not name their icon (the API docs, JSON)."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/")
def index(request: Request, session: Session = Depends(get_session)) -> Response:
    try:
        user = page_user(request, session)
    except LoginRequired:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_of(user), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "login.html", next=next)


@router.post("/login")
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    otp: str = Form(""),
    next: str = Form(""),
    session: Session = Depends(get_session),
) -> Response:
    try:
        user = security_service.authenticate(session, username.strip(), password, otp=otp or None)
    except AuthenticationFailed as exc:
        return render(request, "login.html", error=chinese(exc.detail, 401), next=next,
                      username=username, status_code=401)
    session.commit()  # authenticate may upgrade the password hash
    token, lifetime = issue_token(user)
    target = next if next.startswith("/") and not next.startswith("//") else home_of(user)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, max_age=lifetime, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, session: Session = Depends(get_session)) -> Response:
    """Sign out: the session's token (and every other of this login) is revoked, not only forgotten."""
    try:
        user = page_user(request, session)
    except LoginRequired:
        user = None
    if user is not None:
        security_service.revoke_tokens(session, user, why="logout")
        if user.role in STAFF_ROLES:
            from brokercare.service.service import logged_out

            logged_out(session, user.id)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(_root.joinpath("static"))), name="static")
    protection.install(app)
    errors.install(app)

    @app.exception_handler(LoginRequired)
    async def _login_required(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    app.include_router(router)
    from brokercare.web import (
        admin_pages,
        audit_pages,
        calculator_pages,
        customer_pages,
        knowledge_pages,
        learn_pages,
        manager_pages,
        opening_pages,
        quality_pages,
        workbench,
        workbench_events,
    )

    app.include_router(workbench.router)
    app.include_router(workbench_events.router)
    app.include_router(manager_pages.router, dependencies=[Depends(at_desk)])  # a customer manager's heartbeat
    app.include_router(quality_pages.router, dependencies=[Depends(at_desk)])
    app.include_router(audit_pages.router)
    app.include_router(knowledge_pages.router)
    app.include_router(admin_pages.router)
    app.include_router(customer_pages.router)
    app.include_router(calculator_pages.router)
    app.include_router(learn_pages.router)
    app.include_router(opening_pages.router)
