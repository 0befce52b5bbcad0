"""The staff workbench: live queue, conversation with the customer 360, tickets with SLA timers,
alerts and margin watch, KPI dashboard.

Every page calls the owning domain's service functions, with the same rules as the API: a
customer's holdings, balances, margin and plans show only while a relationship with the customer
holds (:mod:`brokercare.security.access`), each page's reads are ledgered as one entry, personal
data is masked unless the role is cleared, and a reveal is ledgered by ``customers.customer_pii``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_session, utcnow
from brokercare.core.errors import DomainError
from brokercare.security.access import ReadLog, refusal, require_thread, thread_readable
from brokercare.security.policy import (
    Principal,
    cleared,
    data_class_of,
    may_reveal,
    require_step_up,
)
from brokercare.security.service import mask_name
from brokercare.service import service as hub
from brokercare.web.errors import domain_error_response
from brokercare.web.sessions import at_desk, staff_user
from brokercare.web.views360 import customer_360

router = APIRouter(prefix="/workbench", include_in_schema=False, dependencies=[Depends(at_desk)])

SKILL_LABELS = {
    "trading": "交易", "margin": "两融", "funds": "基金理财", "complaints": "投诉", "tax": "税务",
    "legal": "法务", "account_security": "账户安全", "account_service": "账户服务",
}
STATUS_LABELS = {
    "open": "待处理", "in_progress": "处理中", "waiting_on_customer": "待客户回复",
    "resolved": "已解决", "closed": "已关闭",
}
EMOTION_LABELS = {"calm": "平静", "anxious": "焦虑", "angry": "愤怒", "disappointed": "失望", "satisfied": "满意"}


def render(request: Request, name: str, user: Principal, status_code: int = 200, **ctx) -> HTMLResponse:
    from brokercare.web.pages import render as _render

    return _render(request, name, user, status_code=status_code, SKILL_LABELS=SKILL_LABELS,
                   STATUS_LABELS=STATUS_LABELS, EMOTION_LABELS=EMOTION_LABELS, now=utcnow(), **ctx)


def _minutes(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else max(0, int((now - since).total_seconds() // 60))


def _queue_rows(session: Session, reads: ReadLog, *, note: bool = True) -> list[dict]:
    """The waiting conversations; their hand-off summaries (holdings named) only for staff who may
    read the thread (those who take conversations). ``note=False``: the page's own refresh."""
    now = utcnow()
    rows = []
    for conv in hub.waiting_queue(session):
        contact = hub.get_contact(session, conv.contact_id)
        clocks = [c for c in hub.clocks_of(session, "conversation", conv.id) if c.met_at is None]
        due = min((c.due_at for c in clocks), default=None)
        rows.append({
            "conv": conv, "contact": contact, "waiting_min": _minutes(conv.waiting_since, now),
            "due_in_min": None if due is None else int((due - now).total_seconds() // 60),
            "summary": (conv.handoff_summary or {}) if thread_readable(
                reads, conv.id, customer_id=conv.customer_id, status=conv.status, note=note) else {},
        })
    reads.flush()
    return rows


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, user: Principal = Depends(staff_user),
               session: Session = Depends(get_session)) -> HTMLResponse:
    return render(request, "workbench/queue.html", user, rows=_queue_rows(session, _reads(request, session, user)),
                  mine=_my_conversations(session, user), notices=hub.staff_notices(session, user.id))


@router.get("/queue", response_class=HTMLResponse)
def queue_fragment(request: Request, user: Principal = Depends(staff_user),
                   session: Session = Depends(get_session)) -> HTMLResponse:
    return render(request, "workbench/_queue_rows.html", user,
                  rows=_queue_rows(session, _reads(request, session, user), note=False),
                  mine=_my_conversations(session, user), notices=hub.staff_notices(session, user.id))


@router.post("/notices/read")
def notices_read(user: Principal = Depends(staff_user), session: Session = Depends(get_session)) -> Response:
    hub.mark_notices_read(session, user.id)
    session.commit()
    return RedirectResponse("/workbench", status_code=303)


def _my_conversations(session: Session, user: Principal) -> list:
    return hub.assigned_to(session, user.id, limit=20)


@router.post("/conversations/{conversation_id}/take")
def take(conversation_id: int, user: Principal = Depends(staff_user),
         session: Session = Depends(get_session)) -> Response:

    hub.take_over(session, conversation_id, user)
    session.commit()
    return RedirectResponse(f"/workbench/conversations/{conversation_id}", status_code=303)


def _last_customer_text(messages: list) -> str | None:
    for m in reversed(messages):
        if m.sender == "customer":
            return m.text
    return None


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, conversation_id: int, user: Principal = Depends(staff_user),
                      session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.assistant import service as assistant

    conv = hub.get_conversation(session, conversation_id)
    reads = _reads(request, session, user)
    try:
        require_thread(reads, conv.id, customer_id=conv.customer_id, status=conv.status)
    except DomainError as exc:
        return domain_error_response(request, exc)
    messages = hub.messages_of(session, conversation_id)
    last_text = _last_customer_text(messages)
    grant = reads.may(conv.customer_id) if conv.customer_id is not None else None
    suggestion = analysis = c360 = None
    if last_text:
        if grant is not None:  # the suggestion reads the customer's holdings through the tools
            suggestion = assistant.reply(session, conv.customer_id, last_text, channel=conv.channel,
                                         on_behalf=True)
            analysis = suggestion.analysis
        else:
            analysis = assistant.analyze(last_text)
    if grant is not None:
        c360 = customer_360(session, user, conv.customer_id)
        reads.note(grant, "customer360")
    reads.flush(commit=False)
    session.commit()
    return render(request, "workbench/conversation.html", user, conv=conv, messages=messages,
                  deliveries=hub.delivery_of(session, messages), analysis=analysis, suggestion=suggestion,
                  c360=c360, no_relationship=conv.customer_id is not None and grant is None,
                  last_id=messages[-1].id if messages else 0)


def _reads(request: Request, session: Session, user: Principal, reason: str | None = None) -> ReadLog:
    return ReadLog(session, user, action=f"{request.method} {request.url.path}", reason=reason)


@router.get("/conversations/{conversation_id}/thread", response_class=HTMLResponse)
def conversation_thread(request: Request, conversation_id: int, user: Principal = Depends(staff_user),
                        session: Session = Depends(get_session)) -> HTMLResponse:
    conv = hub.get_conversation(session, conversation_id)
    try:  # the page's poll: checked every time, ledgered once (when the page was opened)
        require_thread(_reads(request, session, user), conv.id, customer_id=conv.customer_id,
                       status=conv.status, note=False)
    except DomainError as exc:
        return domain_error_response(request, exc)
    messages = hub.messages_of(session, conversation_id)
    return render(request, "_thread.html", user, messages=messages, viewer="agent",
                  deliveries=hub.delivery_of(session, messages))


@router.post("/conversations/{conversation_id}/reply")
def reply(request: Request, conversation_id: int, text: str = Form(""), user: Principal = Depends(staff_user),
          session: Session = Depends(get_session)) -> Response:

    try:
        hub.agent_reply(session, conversation_id, user, text)
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    if request.headers.get("HX-Request"):
        messages = hub.messages_of(session, conversation_id)
        return render(request, "_thread.html", user, messages=messages, viewer="agent",
                      deliveries=hub.delivery_of(session, messages))
    return RedirectResponse(f"/workbench/conversations/{conversation_id}", status_code=303)


@router.post("/conversations/{conversation_id}/close")
def close(conversation_id: int, user: Principal = Depends(staff_user),
          session: Session = Depends(get_session)) -> Response:

    hub.close_conversation(session, conversation_id, by_user_id=user.id, user=user)
    session.commit()
    return RedirectResponse("/workbench", status_code=303)


@router.post("/conversations/{conversation_id}/ticket")
def create_ticket(request: Request, conversation_id: int, user: Principal = Depends(staff_user),
                  session: Session = Depends(get_session)) -> Response:
    """One click: the conversation's ticket (its open one, or a new one that says what the case is)."""
    conv = hub.get_conversation(session, conversation_id)
    try:  # a ticket carries the thread's words: only for those who may read it
        require_thread(_reads(request, session, user), conv.id, customer_id=conv.customer_id,
                       status=conv.status, note=False)
    except DomainError as exc:
        return domain_error_response(request, exc)
    ticket, _created = hub.case_ticket(session, conv, staff_id=user.id)
    session.commit()
    return RedirectResponse(f"/workbench/tickets#ticket-{ticket.id}", status_code=303)


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, q: str = "", user: Principal = Depends(staff_user),
                   session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.customers import service as customers

    results, total = (customers.search_customers(session, q.strip(), limit=30, searcher=user)
                      if q.strip() else ([], 0))
    session.commit()
    whole = cleared(user.role, data_class_of("name"))
    names = {c.id: c.name if whole else mask_name(c.name) for c in results}
    return render(request, "workbench/customers.html", user, q=q, results=results, total=total, names=names)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(request: Request, customer_id: int, reason: str = "", user: Principal = Depends(staff_user),
                  session: Session = Depends(get_session)) -> HTMLResponse:
    """The customer 360 (AUM, positions, margin ratio), only while a relationship holds; compliance
    states a reason first. The page's reads are one ledger entry."""
    reads = _reads(request, session, user, reason[:200])
    grant = reads.may(customer_id)
    if grant is None:
        return render(request, "workbench/no_relationship.html", user, status_code=403,
                      customer_id=customer_id, message=refusal(user), asks_reason=user.role == "compliance")
    c360 = customer_360(session, user, customer_id, reason=grant.reason)
    reads.note(grant, "customer360")
    reads.flush(commit=False)
    session.commit()
    return render(request, "workbench/customer.html", user, c360=c360, grant=grant)



@router.post("/customers/{customer_id}/reveal", response_class=HTMLResponse)
def reveal(request: Request, customer_id: int, reason: str = Form("客户服务核实身份"),
           otp: str = Form(""), user: Principal = Depends(staff_user),
           session: Session = Depends(get_session)) -> HTMLResponse:
    """Show the personal data whole, for a role cleared to ask, after a fresh TOTP code (step-up);
    the read is ledgered."""
    if not (may_reveal(user.role, 4) or may_reveal(user.role, 3)):
        return HTMLResponse('<p class="error" role="alert">您的角色无权查看完整个人信息，请联系合规岗。</p>',
                            status_code=403)
    reads = _reads(request, session, user, reason[:200])
    try:
        reads.allow(customer_id, "customer360")
        require_step_up(session, user, otp)
    except DomainError as exc:
        return domain_error_response(request, exc)
    c360 = customer_360(session, user, customer_id, reveal=True, reason=reason)
    reads.flush(commit=False)
    session.commit()
    return render(request, "workbench/_pii.html", user, c360=c360)


@router.get("/tickets", response_class=HTMLResponse)
def tickets_page(request: Request, user: Principal = Depends(staff_user),
                 session: Session = Depends(get_session)) -> HTMLResponse:

    now = utcnow()
    reads = _reads(request, session, user)
    columns = []
    for status in ("open", "in_progress", "waiting_on_customer", "resolved"):
        cards = []
        for t in hub.list_tickets(session, status=status, limit=40):
            clocks = [c for c in hub.clocks_of(session, "ticket", t.id) if c.met_at is None]
            due = min((c.due_at for c in clocks), default=None)
            cards.append({"t": t, "due": due, "hidden": not _may_read_case(reads, t.customer_id),
                          "due_in_min": None if due is None else int((due - now).total_seconds() // 60),
                          "breached": any(c.breached_at for c in clocks)})
        columns.append((status, cards))
    reads.flush()
    return render(request, "workbench/tickets.html", user, columns=columns)


def _may_read_case(reads: ReadLog, customer_id: int | None) -> bool:
    """A ticket's subject is the customer's case: shown to whom may read the customer (noted)."""
    if customer_id is None:
        return True
    grant = reads.may(customer_id)
    if grant is not None:
        reads.note(grant, "tickets")
    return grant is not None


@router.post("/tickets/{ticket_id}/transition")
def ticket_transition(request: Request, ticket_id: int, to_status: str = Form(...),
                      user: Principal = Depends(staff_user),
                      session: Session = Depends(get_session)) -> Response:

    try:
        hub.transition_ticket(session, ticket_id, to_status, actor_id=user.id)
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    return RedirectResponse(f"/workbench/tickets#ticket-{ticket_id}", status_code=303)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, user: Principal = Depends(staff_user),
                session: Session = Depends(get_session)) -> HTMLResponse:
    """The latest alerts and open margin calls of the customers the viewer has a relationship with
    (the risk desk: those on the margin watchlist or in a risk case), ledgered as one entry."""
    from brokercare.accounts.service import customer_of_account
    from brokercare.customers.service import get_customers
    from brokercare.monitoring import service as watchlists

    reads = _reads(request, session, user)
    alerts = _related(reads, watchlists.recent_alerts(session, limit=60), lambda a: a.customer_id, "alerts")
    owner = {}
    calls = _related(reads, watchlists.open_margin_calls(session, limit=50),
                     lambda c: owner.setdefault(c.account_id, customer_of_account(session, c.account_id)),
                     "margin_calls")
    reads.flush()
    named = {c.id: c for c in get_customers(session, {a.customer_id for a in alerts} | set(owner.values()) - {None})}
    return render(request, "workbench/alerts.html", user, alerts=alerts, calls=calls, owner=owner, named=named,
                  today=datetime.now(SHANGHAI).date())


def _related(reads: ReadLog, rows: list, customer_of, what: str) -> list:
    """The rows about customers the reader has a relationship with, each read noted."""
    shown = []
    for row in rows:
        customer_id = customer_of(row)
        grant = reads.may(customer_id) if customer_id is not None else None
        if grant is not None:
            reads.note(grant, what)
            shown.append(row)
    return shown


@router.get("/kpi", response_class=HTMLResponse)
def kpi_page(request: Request, days: int = 14, month: str | None = None,
             user: Principal = Depends(staff_user), session: Session = Depends(get_session)) -> Response:
    from brokercare.quality import service as quality

    try:
        report = (quality.month_kpis(session, month) if month
                  else quality.recent_kpis(session, days=max(1, min(days, 90))))
    except DomainError as exc:
        return domain_error_response(request, exc)
    return render(request, "workbench/kpi.html", user, kpis=report.overall, report=report,
                  metrics=quality.METRICS, fmt=quality.display, chart_data=quality.daily_series(report))
