"""The staff workbench: live queue, conversation with the customer 360, tickets with SLA timers,
alerts and margin watch, KPI dashboard.

Every page calls the owning domain's service functions, with the same rules as the API: a
customer's holdings, balances, margin and plans show only while a relationship with the customer
holds (:mod:`brokercare.security.access`), each page's reads are ledgered as one entry, personal
data is masked unless the role is cleared, and a reveal is ledgered by ``customers.customer_pii``.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

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
    "wealth": "财富管理", "vip": "VIP 服务",
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


def _queue_rows(session: Session, reads: ReadLog, user: Principal, *, note: bool = True) -> list[dict]:
    """The waiting conversations; their hand-off summaries (holdings named) only for staff who may
    read the thread (those who take conversations). ``note=False``: the page's own refresh. A
    chat waiting past its target is flagged, and offered to the viewer if it has their skill."""
    now = utcnow()
    skills = set(hub.agent_profile(session, user.id).skills or [])
    rows = []
    for conv in hub.waiting_queue(session):
        contact = hub.get_contact(session, conv.contact_id)
        clocks = [c for c in hub.clocks_of(session, "conversation", conv.id) if c.met_at is None]
        due = min((c.due_at for c in clocks), default=None)
        overdue = hub.overdue(conv, now)
        rows.append({
            "conv": conv, "contact": contact, "waiting_min": _minutes(conv.waiting_since, now),
            "target_min": int(hub.wait_target(conv.priority).total_seconds() // 60),
            "overdue": overdue, "offered": overdue and (conv.skill in skills or user.role == "team_lead"),
            "due_in_min": None if due is None else int((due - now).total_seconds() // 60),
            "summary": (conv.handoff_summary or {}) if thread_readable(
                reads, conv.id, customer_id=conv.customer_id, status=conv.status, note=note) else {},
        })
    reads.flush()
    return sorted(rows, key=lambda r: not r["offered"])


def _queue_context(request: Request, session: Session, user: Principal, *, note: bool) -> dict:
    """What the queue page shows: the waiting chats, the viewer's own, their notices, the
    call-backs promised outside desk hours, and for a team lead the team's presence."""
    rows = _queue_rows(session, _reads(request, session, user), user, note=note)
    team = hub.team_presence(session, user) if user.role in ("team_lead", "admin") else []
    labels = {}
    callbacks = hub.callbacks_open(session, limit=30)
    for cb in callbacks:
        contact = hub.get_contact(session, cb.contact_id)
        labels[cb.id] = contact.label if contact else "—"
    return {"rows": rows, "mine": _my_conversations(session, user), "notices": hub.staff_notices(session, user.id),
            "team": team, "overdue": sum(1 for r in rows if r["overdue"]), "callbacks": callbacks,
            "callback_labels": labels, "PRESENCE_LABELS": hub.PRESENCE_ZH,
            "me": hub.my_presence(session, user) if user.role in hub.QUEUE_ROLES else None,
            "paused": not hub.agent_profile(session, user.id).present}


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, user: Principal = Depends(staff_user),
               session: Session = Depends(get_session)) -> HTMLResponse:
    return render(request, "workbench/queue.html", user, **_queue_context(request, session, user, note=True))


@router.get("/queue", response_class=HTMLResponse)
def queue_fragment(request: Request, user: Principal = Depends(staff_user),
                   session: Session = Depends(get_session)) -> HTMLResponse:
    return render(request, "workbench/_queue_rows.html", user, **_queue_context(request, session, user, note=False))


@router.get("/late-chats", response_class=HTMLResponse)
def late_chats(request: Request, user: Principal = Depends(staff_user),
               session: Session = Depends(get_session)) -> HTMLResponse:
    """The banner every workbench page polls (its request is also the viewer's heartbeat): chats
    waiting past their target that the viewer may take (their skill; a team lead sees all), so an
    agent on the tickets or customers page is told too, not only one looking at the queue. The rule
    is :func:`brokercare.service.desk.offered_to`'s, with the viewer's skills read once."""
    if user.role not in hub.QUEUE_ROLES:
        return HTMLResponse("")
    now = utcnow()
    skills = set(hub.agent_profile(session, user.id).skills or [])  # read once, not per chat
    late = [{"conv": c, "waiting_min": _minutes(c.waiting_since, now)} for c in hub.waiting_queue(session)
            if hub.overdue(c, now) and (user.role == "team_lead" or c.skill in skills)]
    return render(request, "workbench/_late_chats.html", user, late=late)


@router.post("/notices/read")
def notices_read(user: Principal = Depends(staff_user), session: Session = Depends(get_session)) -> Response:
    hub.mark_notices_read(session, user.id)
    session.commit()
    return RedirectResponse("/workbench", status_code=303)


def _my_conversations(session: Session, user: Principal) -> list:
    return hub.assigned_to(session, user.id, limit=20)


def _done(request: Request, to: str) -> Response:
    """After a workbench action: htmx follows ``HX-Redirect``; a plain form gets a 303."""
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": to})
    return RedirectResponse(to, status_code=303)


def _act(request: Request, session: Session, action, to: str) -> Response:
    """Run a workbench action: committed and redirected, or rolled back and its refusal shown in
    Chinese on the page (a fragment for htmx, a page otherwise)."""
    try:
        action()
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    return _done(request, to)


@router.post("/conversations/{conversation_id}/take")
def take(request: Request, conversation_id: int, user: Principal = Depends(staff_user),
         session: Session = Depends(get_session)) -> Response:
    return _act(request, session, lambda: hub.take_over(session, conversation_id, user),
                f"/workbench/conversations/{conversation_id}")


@router.post("/conversations/{conversation_id}/handover-request")
def handover_request(request: Request, conversation_id: int, user: Principal = Depends(staff_user),
                     session: Session = Depends(get_session)) -> Response:
    """Ask the agent who has the conversation to hand it over (a notice on their workbench)."""
    return _act(request, session, lambda: hub.request_handover(
        session, hub.get_conversation(session, conversation_id), user),
        f"/workbench/conversations/{conversation_id}?asked=1")


@router.post("/conversations/{conversation_id}/handover")
def handover(request: Request, conversation_id: int, to_user_id: int = Form(...),
             user: Principal = Depends(staff_user), session: Session = Depends(get_session)) -> Response:
    """The agent who has the conversation gives it to the colleague who asked for it."""
    return _act(request, session, lambda: hub.hand_over(
        session, hub.get_conversation(session, conversation_id), user, to_user_id), "/workbench")


@router.post("/presence")
def presence(request: Request, paused: int = Form(0), user: Principal = Depends(staff_user),
             session: Session = Depends(get_session)) -> Response:
    """暂停接单 / 恢复接单: the agent's own choice to take new chats or not."""
    return _act(request, session, lambda: hub.pause_chats(session, user, paused=bool(paused)), "/workbench")


@router.post("/callbacks/{callback_id}/done")
def callback_done(request: Request, callback_id: int, user: Principal = Depends(staff_user),
                  session: Session = Depends(get_session)) -> Response:
    """A member of staff called the customer back."""
    return _act(request, session, lambda: hub.callback_done(session, callback_id, by_user_id=user.id),
                "/workbench#callbacks")


def _last_customer_text(messages: list) -> str | None:
    for m in reversed(messages):
        if m.sender == "customer":
            return m.text
    return None


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, conversation_id: int, asked: int = 0, user: Principal = Depends(staff_user),
                      session: Session = Depends(get_session)) -> HTMLResponse:
    conv = hub.get_conversation(session, conversation_id)
    reads = _reads(request, session, user)
    desk = _desk_of(session, conv, user, asked=bool(asked))
    try:
        require_thread(reads, conv.id, customer_id=conv.customer_id, status=conv.status)
    except DomainError as exc:
        if desk["owner"] is None or desk["mine"]:
            return domain_error_response(request, exc)
        # Another agent's conversation: who has it and how to take it over, not its words (still a
        # 403: what was asked for, the thread, is refused).
        return render(request, "workbench/conversation.html", user, status_code=403, conv=conv, desk=desk,
                      restricted=True, refused=refusal(user),
                      messages=[], deliveries={}, analysis=None, suggestion=None, c360=None,
                      no_relationship=True, last_id=0)
    messages = hub.messages_of(session, conversation_id)
    suggestion, analysis, c360, grant = _assist(session, reads, user, conv, messages)
    reads.flush(commit=False)
    session.commit()
    return render(request, "workbench/conversation.html", user, conv=conv, messages=messages, desk=desk,
                  restricted=False, deliveries=hub.delivery_of(session, messages), analysis=analysis,
                  intent_choices=hub.intent_choices() if desk["mine"] or user.role == "team_lead" else [],
                  suggestion=suggestion, c360=c360, no_relationship=conv.customer_id is not None and grant is None,
                  last_id=messages[-1].id if messages else 0)


def _assist(session: Session, reads: ReadLog, user: Principal, conv, messages: list):
    """The assistant's suggestion and analysis of the customer's last message, and the customer
    360 while a relationship holds."""
    suggestion, analysis, _about = assist_of(session, reads, conv, messages)
    grant = reads.may(conv.customer_id) if conv.customer_id is not None else None
    c360 = None
    if grant is not None:
        c360 = customer_360(session, user, conv.customer_id, reads=reads)
        reads.note(grant, "customer360")
    return suggestion, analysis, c360, grant


def assist_of(session: Session, reads: ReadLog, conv, messages: list) -> tuple:
    """``(suggestion, analysis, text)`` for the customer's newest message in ``messages``: the
    suggestion only while a relationship holds (it reads the holdings through the tools) and the
    conversation is open (nobody replies to a closed one; a reviewer reads the analysis)."""
    from brokercare.assistant import service as assistant

    last_text = _last_customer_text(messages)
    if not last_text:
        return None, None, None
    grant = reads.may(conv.customer_id) if conv.customer_id is not None else None
    if grant is None or conv.status == "closed":
        return None, assistant.analyze(last_text), last_text
    suggestion = assistant.reply(session, conv.customer_id, last_text, channel=conv.channel, on_behalf=True)
    return suggestion, suggestion.analysis, last_text


def _desk_of(session: Session, conv, user: Principal, *, asked: bool = False) -> dict:
    """Whose conversation it is and what the viewer may do with it: reply and close it (theirs),
    take it (waiting, or a team lead stepping in), ask its agent to hand it over."""
    owner = hub.queue_agent(session, conv.assigned_agent_id) if conv.status == "assigned" else None
    mine = owner is not None and owner.id == user.id
    lead = user.role in ("team_lead", "admin")
    return {
        "owner": owner, "mine": mine, "asked": asked,
        "may_reply": mine,
        "may_close": conv.status != "closed" and (mine or lead or conv.status == "bot"),
        "may_take": conv.status == "waiting" or (owner is not None and not mine and user.role == "team_lead"),
        "may_ask": owner is not None and not mine,
        "requests": hub.handover_requests(session, conv) if mine else [],
    }


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
def reply(request: Request, conversation_id: int, text: str = Form(""), suggested: str = Form(""),
          user: Principal = Depends(staff_user), session: Session = Depends(get_session)) -> Response:
    """``suggested``: the assistant's suggestion the reply box was filled with; the hub tells the
    assistant when the agent changed it."""
    try:
        hub.agent_reply(session, conversation_id, user, text, suggested=suggested or None)
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    if request.headers.get("HX-Request"):
        messages = hub.messages_of(session, conversation_id)
        return render(request, "_thread.html", user, messages=messages, viewer="agent",
                      deliveries=hub.delivery_of(session, messages))
    return RedirectResponse(f"/workbench/conversations/{conversation_id}", status_code=303)


@router.post("/conversations/{conversation_id}/wrong-intent")
def wrong_intent(request: Request, conversation_id: int, intent: str = Form(""),
                 user: Principal = Depends(staff_user), session: Session = Depends(get_session)) -> Response:
    """The agent marks the assistant's reading of the customer's newest message wrong and picks the
    right intent: it joins the assistant's labelled pool (``brokercare nlu retrain`` learns it)."""
    try:
        hub.mark_wrong_intent(session, conversation_id, user, intent)
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    name = dict(hub.intent_choices()).get(intent, intent)
    if request.headers.get("HX-Request"):
        return HTMLResponse(f'<p class="notice" role="status">已记录：这条消息的正确意图是“{escape(name)}”，'
                            "智能助手下次学习时会采纳。</p>")
    return RedirectResponse(f"/workbench/conversations/{conversation_id}", status_code=303)


@router.post("/conversations/{conversation_id}/close")
def close(request: Request, conversation_id: int, user: Principal = Depends(staff_user),
          session: Session = Depends(get_session)) -> Response:
    return _act(request, session, lambda: hub.close_conversation(
        session, conversation_id, by_user_id=user.id, user=user), "/workbench")


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
    return render(request, "workbench/customers.html", user, q=q, results=results, total=total, names=names,
                  matched_by=customers.matched_by(q))


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
    c360 = customer_360(session, user, customer_id, reason=grant.reason, reads=reads)
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
    c360 = customer_360(session, user, customer_id, reveal=True, reason=reason, reads=reads)
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
                  leads=quality.lead_conversion(session, report.start, report.end),
                  metrics=quality.METRICS, fmt=quality.display, chart_data=quality.daily_series(report))
