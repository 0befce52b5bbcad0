"""The service hub's API: inbound channels, the agents' workbench actions, tickets, feedback, CSAT.

Roles: customers post and read only their own messages, tickets and feedback; service staff
(agent, advisor, customer manager, team lead, admin) work conversations and tickets; team leads
and admins change capacities, reassign tickets, move suggestions and run the SLA check. Channel
gateways authenticate as staff (email, call centre) or by WeChat's signature (the push endpoint).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from brokercare.core.database import get_session, session_factory, utcnow
from brokercare.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from brokercare.core.problems import errors
from brokercare.customers import service as customers
from brokercare.security.access import ReadLog, Reads, require_thread, thread_readable
from brokercare.security.policy import (
    Principal,
    current_user,
    oauth2_scheme,
    require_roles,
    users_from_tokens,
)
from brokercare.service import csat, feedback, queues, sla, tickets
from brokercare.service import service as conv_svc
from brokercare.service.channels import (
    ChannelNotConfigured,
    Identity,
    from_json_message,
    parse_call_transcript,
    parse_email,
    parse_wechat,
    plausible_sent_at,
    wechat_reply_xml,
    wechat_signature_ok,
)
from brokercare.service.intake import Intake
from brokercare.service.models import (
    Contact,
    Conversation,
    CsatSurvey,
    Message,
    RoutingDecision,
    Ticket,
)
from brokercare.service.schemas import (
    CapacityIn,
    ConversationOut,
    CsatIn,
    CsatOut,
    FeedbackAnswerIn,
    FeedbackIn,
    FeedbackOut,
    MessageIn,
    MessageOut,
    ReceiveOut,
    ReplyIn,
    RoutingOut,
    SlaCheckOut,
    SlaClockOut,
    SuggestionStatusIn,
    TicketAssignIn,
    TicketCommentIn,
    TicketDetailOut,
    TicketEventOut,
    TicketIn,
    TicketOut,
    TicketTransitionIn,
    TransferIn,
)

router = APIRouter(prefix="/service", tags=["service"])

STAFF = ("agent", "advisor", "customer_manager", "team_lead", "admin")
SUPERVISORS = ("team_lead", "admin")
GATEWAYS = ("admin", "agent", "team_lead")
staff_user = require_roles(*STAFF)
supervisor = require_roles(*SUPERVISORS)


# --- inbound ------------------------------------------------------------------------------------

class Busy(DomainError):
    status_code = 503
    title = "Service unavailable"


def _receive(session: Session, inbound) -> conv_svc.Received:
    """Store and route one message from a channel gateway (WeChat, email, call centre)."""
    try:
        return conv_svc.receive(session, inbound)
    except (PoolTimeout, OperationalError) as exc:
        session.rollback()
        if (busy := _busy(exc)) is exc:
            raise
        raise busy from exc


def _received_out(session: Session, received: conv_svc.Received) -> ReceiveOut:
    got = received.ingested
    first = got.first_customer_message
    done = received.processed
    if done is not None:  # routed in this request: answer from what the routing produced
        conv, decision = done.conversation, done.decision
        replies = [done.reply] if done.reply is not None else []
        agent, ticket = done.agent, done.ticket
        routing = RoutingOut(outcome=decision.outcome, rule=decision.rule, skill=decision.skill,
                             priority=decision.priority) if decision else None
    else:  # a duplicate, or routed elsewhere (a Redis worker): read what is stored
        session.expire_all()
        conv = session.get(Conversation, got.conversation.id)
        row = session.scalar(select(RoutingDecision).where(RoutingDecision.message_id == first.id))
        replies = session.scalars(select(Message).where(
            Message.conversation_id == conv.id, Message.id > max(m.id for m in got.messages),
            Message.direction == "out").order_by(Message.id)).all()
        agent = queues.agent(session, conv.assigned_agent_id)
        ticket = session.get(Ticket, row.ticket_id) if row and row.ticket_id else None
        routing = RoutingOut(outcome=row.outcome, rule=row.rule, skill=row.skill,
                             priority=row.priority) if row else None
    status = "duplicate" if got.duplicate else ("routed" if routing else "queued")
    return ReceiveOut(
        status=status, message_id=first.id, conversation_id=conv.id, contact_id=conv.contact_id,
        customer_known=conv.customer_id is not None, routing=routing,
        replies=[MessageOut.model_validate(m) for m in replies],
        assigned_agent=agent.display_name if agent else None,
        ticket_no=ticket.ticket_no if ticket else None,
    )


_intakes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _message_intake() -> Intake:
    """The intake of this process's event loop (a test client runs a loop of its own)."""
    loop = asyncio.get_running_loop()
    intake = _intakes.get(loop)
    if intake is None:
        from brokercare.core.settings import get_settings

        settings = get_settings()
        intake = _intakes[loop] = Intake(
            _post_messages, workers=settings.message_concurrency, max_batch=settings.message_batch,
            limit=settings.message_queue_limit,
            full=lambda: Busy("系统繁忙，请稍后重试。(message queue full: retry)", extra={"retry_after_s": 1}))
    return intake


_BUSY = {503: "The server is busy (its message queue is full or no database connection is free): "
              "retry after the Retry-After seconds"}
_WECHAT = {403: "The request does not carry WeChat's signature for this account's token",
           503: "The WeChat channel is not configured (BROKERCARE_WECHAT_TOKEN is not set)"}


@router.post("/messages", response_model=ReceiveOut, summary="A message from the app, web chat or a branch",
             responses=errors(_BUSY))
async def post_message(body: MessageIn, token: str | None = Depends(oauth2_scheme)) -> Response:
    # The busiest endpoint: messages that arrive together are authenticated, stored, routed and
    # committed together on one of the process's few message threads (see service/intake.py); the
    # answer leaves as the JSON of a ReceiveOut built there, not validated a second time.
    return Response(await _message_intake().submit((body, token)), media_type="application/json")


def _post_messages(requests: list[tuple[MessageIn, str | None]]) -> list[bytes | Exception]:
    """One batch of POST /service/messages: each request gets its answer or its own error."""
    session = session_factory()()
    out: list[bytes | Exception | None] = [None] * len(requests)
    try:
        try:
            users = users_from_tokens(session, [token for _, token in requests])
            inbounds, where = [], []
            for i, ((body, _), user) in enumerate(zip(requests, users, strict=True)):
                if isinstance(user, Exception):
                    out[i] = user
                    continue
                try:
                    inbounds.append(_inbound(body, user))
                    where.append(i)
                except DomainError as exc:
                    out[i] = exc
            received = conv_svc.receive_many(session, inbounds)
        except (PoolTimeout, OperationalError) as exc:  # the whole batch: nobody's message was taken
            session.rollback()
            busy = _busy(exc)
            return [busy if o is None else o for o in out]
        for i, got in zip(where, received, strict=True):
            if isinstance(got, (PoolTimeout, OperationalError)):
                out[i] = _busy(got)
            elif isinstance(got, Exception):
                out[i] = got
            else:
                try:
                    out[i] = _received_out(session, got).model_dump_json().encode()
                except Exception as exc:  # stored and routed; only this answer failed
                    out[i] = exc
        return out
    finally:
        session.close()


def _busy(exc: Exception) -> Exception:
    """A database too busy to take the write answers 503 (retry), not 500."""
    if isinstance(exc, PoolTimeout):
        return Busy("系统繁忙，请稍后重试。(no database connection free: retry)", extra={"retry_after_s": 1})
    if isinstance(exc, OperationalError) and ("locked" in str(exc.orig).lower()
                                              or "deadlock" in str(exc.orig).lower()):
        return Busy("系统繁忙，请稍后重试。(database busy: retry)", extra={"retry_after_s": 1})
    return exc


def _inbound(body: MessageIn, user: Principal):
    if user.role == "customer":
        if body.channel not in ("app", "web"):
            raise PermissionDenied("客户只能通过 APP 或网页发送消息")
        identities = [Identity("customer_id", str(user.customer_id), verified=True)]
    elif user.role in STAFF:
        # Staff never speak as the customer: only a branch counter's note of what a walk-in said,
        # and who the sender is stays unproven (only a channel's own check proves it: the app's
        # customer token, WeChat's signature, DKIM verified here, the IVR).
        if body.channel != "branch" or body.verified:
            raise PermissionDenied("员工不能以客户身份发送消息，也不能自行标注身份已核验；"
                                   "营业部代录请使用 branch 渠道。(staff cannot post as a customer)")
        identities = []
        if body.customer_id is not None:
            identities.append(Identity("customer_id", str(body.customer_id), verified=False))
        for kind in ("account_no", "wechat_openid", "phone", "email"):
            value = getattr(body, kind)
            if value:
                identities.append(Identity(kind, value, verified=False))
        if not identities:
            raise ValidationFailed("give at least one identity of the sender (customer_id, account_no, phone, wechat_openid or email)")
    else:
        raise PermissionDenied("您的角色无权代客户发送消息")
    return from_json_message(body.channel, body.text, sent_at=plausible_sent_at(body.sent_at),
                             client_msg_id=body.client_msg_id, identities=identities,
                             display_name=body.display_name)


def _wechat_token() -> str:
    token = os.environ.get("BROKERCARE_WECHAT_TOKEN")
    if not token:
        raise ChannelNotConfigured("the WeChat channel is not configured (set BROKERCARE_WECHAT_TOKEN)")
    return token


@router.get("/channels/wechat", summary="WeChat server URL verification (echostr)", responses=errors(_WECHAT))
def wechat_verify(signature: str = "", timestamp: str = "", nonce: str = "", echostr: str = "") -> Response:
    if not wechat_signature_ok(_wechat_token(), signature, timestamp, nonce):
        raise PermissionDenied("bad WeChat signature")
    return Response(echostr, media_type="text/plain")


@router.post("/channels/wechat", summary="WeChat Official Account push (XML); answers with a passive reply",
             responses=errors(_WECHAT))
async def wechat_push(request: Request, signature: str = "", timestamp: str = "", nonce: str = "",
                      session: Session = Depends(get_session)) -> Response:
    if not wechat_signature_ok(_wechat_token(), signature, timestamp, nonce):
        raise PermissionDenied("bad WeChat signature")
    inbound = parse_wechat(await request.body())
    if inbound is None:
        return Response("success", media_type="text/plain")
    received = _receive(session, inbound)
    out = _received_out(session, received)
    texts = [r.text for r in out.replies if r.sender in ("ai", "system")]
    if not texts or out.status == "duplicate":
        return Response("success", media_type="text/plain")
    xml = wechat_reply_xml(inbound.meta, inbound.identities[0].value, "\n".join(texts), utcnow())
    return Response(xml, media_type="application/xml")


@router.post("/channels/email", response_model=ReceiveOut, summary="An inbound email (message/rfc822 body)")
async def email_in(request: Request, user: Principal = Depends(require_roles(*GATEWAYS)),
                   session: Session = Depends(get_session)) -> ReceiveOut:
    return _received_out(session, _receive(session, parse_email(await request.body())))


@router.post("/channels/phone", response_model=ReceiveOut, summary="A finished call's transcript (JSON)")
def phone_in(body: dict, user: Principal = Depends(require_roles(*GATEWAYS)),
             session: Session = Depends(get_session)) -> ReceiveOut:
    return _received_out(session, _receive(session, parse_call_transcript(body)))


# --- customers' own view ------------------------------------------------------------------------

def _own_contact(session: Session, user: Principal) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.customer_id == user.customer_id))
    if contact is None:
        raise NotFound("您还没有服务记录")
    return contact


@router.get("/my/messages", response_model=list[MessageOut], summary="A customer's thread, newest conversation")
def my_messages(after_id: int = 0, user: Principal = Depends(require_roles("customer")),
                session: Session = Depends(get_session)) -> list[MessageOut]:
    contact = _own_contact(session, user)
    conv = session.scalar(select(Conversation).where(Conversation.contact_id == contact.id)
                          .order_by(Conversation.id.desc()).limit(1))
    msgs = conv_svc.messages_of(session, conv.id, after_id=after_id) if conv else []
    return [MessageOut.model_validate(m) for m in msgs]


@router.get("/my/tickets", response_model=list[TicketOut], summary="A customer's tickets")
def my_tickets(user: Principal = Depends(require_roles("customer")),
               session: Session = Depends(get_session)) -> list[TicketOut]:
    return [TicketOut.model_validate(t) for t in tickets.list_tickets(session, customer_id=user.customer_id)]


# --- conversations (workbench) ------------------------------------------------------------------

@router.get("/conversations", response_model=list[ConversationOut])
def list_conversations(reads: Reads, status: str | None = None, skill: str | None = None, mine: bool = False,
                       limit: int = Query(50, le=200), user: Principal = Depends(staff_user),
                       session: Session = Depends(get_session)) -> list[ConversationOut]:
    stmt = select(Conversation)
    if status:
        stmt = stmt.where(Conversation.status == status)
    if skill:
        stmt = stmt.where(Conversation.skill == skill)
    if mine:
        stmt = stmt.where(Conversation.assigned_agent_id == user.id)
    rows = session.scalars(stmt.order_by(Conversation.last_message_at.desc()).limit(limit))
    return [_conversation_out(reads, c) for c in rows]


def _conversation_out(reads: Reads, conv: Conversation) -> ConversationOut:
    """The hand-off summary names the customer's holdings: shown only to whom may read the thread."""
    out = ConversationOut.model_validate(conv)
    if out.handoff_summary is not None and not thread_readable(
            reads, conv.id, customer_id=conv.customer_id, status=conv.status):
        out.handoff_summary = None
    return out


@router.get("/queue", response_model=list[ConversationOut], summary="Conversations waiting for a person")
def queue(reads: Reads, skill: str | None = None, user: Principal = Depends(staff_user),
          session: Session = Depends(get_session)) -> list[ConversationOut]:
    return [_conversation_out(reads, c) for c in queues.waiting_queue(session, skill)]


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
def get_conversation(conversation_id: int, reads: Reads, user: Principal = Depends(staff_user),
                     session: Session = Depends(get_session)) -> ConversationOut:
    return _conversation_out(reads, conv_svc.get_conversation(session, conversation_id))


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageOut])
def conversation_messages(conversation_id: int, reads: Reads, after_id: int = 0,
                          user: Principal = Depends(staff_user),
                          session: Session = Depends(get_session)) -> list[MessageOut]:
    conv = conv_svc.get_conversation(session, conversation_id)
    require_thread(reads, conv.id, customer_id=conv.customer_id, status=conv.status)
    return [MessageOut.model_validate(m) for m in conv_svc.messages_of(session, conversation_id, after_id=after_id)]


@router.post("/conversations/{conversation_id}/reply", response_model=MessageOut)
def reply(conversation_id: int, body: ReplyIn, user: Principal = Depends(staff_user),
          session: Session = Depends(get_session)) -> MessageOut:
    msg = conv_svc.agent_reply(session, conversation_id, user, body.text)
    session.commit()
    return MessageOut.model_validate(msg)


@router.post("/conversations/{conversation_id}/take", response_model=ConversationOut)
def take(conversation_id: int, user: Principal = Depends(staff_user),
         session: Session = Depends(get_session)) -> ConversationOut:
    conv = conv_svc.take_over(session, conversation_id, user)
    session.commit()
    return ConversationOut.model_validate(conv)


@router.post("/conversations/{conversation_id}/transfer", response_model=ConversationOut)
def transfer(conversation_id: int, body: TransferIn, user: Principal = Depends(staff_user),
             session: Session = Depends(get_session)) -> ConversationOut:
    conv = conv_svc.get_conversation(session, conversation_id)
    queues.transfer(session, conv, skill=body.skill, by_agent_id=user.id)
    session.commit()
    return ConversationOut.model_validate(conv)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
def close(conversation_id: int, user: Principal = Depends(staff_user),
          session: Session = Depends(get_session)) -> ConversationOut:
    conv = conv_svc.close_conversation(session, conversation_id, by_user_id=user.id, user=user)
    session.commit()
    return ConversationOut.model_validate(conv)


@router.put("/agents/{agent_id}/capacity", response_model=list[ConversationOut],
            summary="Set an agent's chat slots / availability; returns the chats it pulled from the queue")
def capacity(agent_id: int, body: CapacityIn, user: Principal = Depends(staff_user),
             session: Session = Depends(get_session)) -> list[ConversationOut]:
    if agent_id != user.id and user.role not in SUPERVISORS:
        raise PermissionDenied("only team leads and admins change another agent's capacity")
    taken = queues.set_capacity(session, agent_id, body.max_concurrent, active=body.active)
    session.commit()
    return [ConversationOut.model_validate(c) for c in taken]


# --- tickets ------------------------------------------------------------------------------------

HIDDEN_CASE = "（工单内容仅经办人及与客户有服务关系的同事可见）"


def _ticket_out(reads: ReadLog, ticket: Ticket, model: type[TicketOut] = TicketOut) -> TicketOut:
    """A ticket's subject and description carry the customer's case (a hand-off summary names their
    holdings): whole for whom may read the customer, hidden from other staff, who still see the
    category, department, priority and state to triage."""
    out = model.model_validate(ticket)
    if ticket.customer_id is not None:
        grant = reads.may(ticket.customer_id)
        if grant is None:
            out.subject, out.description = HIDDEN_CASE, HIDDEN_CASE
        else:
            reads.note(grant, "tickets")
    return out


def _detail(session: Session, ticket: Ticket, reads: ReadLog | None = None) -> TicketDetailOut:
    """The ticket with its events and clocks; with ``reads`` (staff), its words only for whom may
    read the customer."""
    out = _ticket_out(reads, ticket, TicketDetailOut) if reads is not None else TicketDetailOut.model_validate(ticket)
    hidden = out.subject == HIDDEN_CASE
    out.events = [TicketEventOut.model_validate(e) for e in tickets.events_of(session, ticket.id)]
    if hidden:
        for e in out.events:
            e.note = HIDDEN_CASE if e.note else e.note
    out.sla = [SlaClockOut.model_validate(c) for c in sla.clocks_of(session, "ticket", ticket.id)]
    return out


@router.post("/tickets", response_model=TicketDetailOut, status_code=201)
def create_ticket(body: TicketIn, user: Principal = Depends(staff_user),
                  session: Session = Depends(get_session)) -> TicketDetailOut:
    contact_id = body.contact_id
    if contact_id is None:
        customers.get_customer(session, body.customer_id)  # NotFound for an unknown customer
        contact_id = conv_svc.contact_of_customer(session, body.customer_id, utcnow()).id
    ticket = tickets.create_ticket(
        session, contact_id=contact_id, subject=body.subject, description=body.description,
        category=body.category, department=body.department, priority=body.priority, source="staff",
        channel=body.channel, conversation_id=body.conversation_id, assignee_id=body.assignee_id,
        created_by_id=user.id)
    session.commit()
    return _detail(session, ticket)


@router.get("/tickets", response_model=list[TicketOut])
def list_tickets(reads: Reads, status: str | None = None, department: str | None = None,
                 assignee_id: int | None = None, customer_id: int | None = None, limit: int = Query(50, le=200),
                 offset: int = 0, user: Principal = Depends(staff_user),
                 session: Session = Depends(get_session)) -> list[TicketOut]:
    rows = tickets.list_tickets(session, status=status, department=department, assignee_id=assignee_id,
                                customer_id=customer_id, limit=limit, offset=offset)
    return [_ticket_out(reads, t) for t in rows]


@router.get("/tickets/{ticket_id}", response_model=TicketDetailOut)
def get_ticket(ticket_id: int, reads: Reads, user: Principal = Depends(current_user),
               session: Session = Depends(get_session)) -> TicketDetailOut:
    ticket = tickets.get_ticket(session, ticket_id)
    if user.role == "customer":
        if ticket.customer_id != user.customer_id:
            raise NotFound(f"ticket {ticket_id} does not exist")
        out = _detail(session, ticket)
        out.events = [e for e in out.events if e.public or e.kind == "created"]
        return out
    if user.role not in STAFF:
        raise PermissionDenied("your role does not work tickets")
    return _detail(session, ticket, reads)


@router.post("/tickets/{ticket_id}/transition", response_model=TicketDetailOut)
def transition(ticket_id: int, body: TicketTransitionIn, reads: Reads, user: Principal = Depends(staff_user),
               session: Session = Depends(get_session)) -> TicketDetailOut:
    ticket = tickets.transition(session, ticket_id, body.status, actor_id=user.id, note=body.note)
    session.commit()
    return _detail(session, ticket, reads)


@router.post("/tickets/{ticket_id}/comments", response_model=TicketEventOut, status_code=201)
def comment(ticket_id: int, body: TicketCommentIn, user: Principal = Depends(staff_user),
            session: Session = Depends(get_session)) -> TicketEventOut:
    event = tickets.respond(session, ticket_id, actor_id=user.id, text=body.text, public=body.public)
    session.commit()
    return TicketEventOut.model_validate(event)


@router.put("/tickets/{ticket_id}/assignee", response_model=TicketOut)
def assign_ticket(ticket_id: int, body: TicketAssignIn, user: Principal = Depends(supervisor),
                  session: Session = Depends(get_session)) -> TicketOut:
    ticket = tickets.assign(session, ticket_id, body.assignee_id, actor_id=user.id)
    session.commit()
    return TicketOut.model_validate(ticket)


# --- feedback -----------------------------------------------------------------------------------

@router.post("/feedback", response_model=FeedbackOut, status_code=201)
def post_feedback(body: FeedbackIn, user: Principal = Depends(current_user),
                  session: Session = Depends(get_session)) -> FeedbackOut:
    now = utcnow()
    if user.role == "customer":
        contact_id = conv_svc.contact_of_customer(session, user.customer_id, now).id
    elif user.role in STAFF:
        if body.contact_id is not None:
            contact_id = body.contact_id
        elif body.customer_id is not None:
            customers.get_customer(session, body.customer_id)  # NotFound for an unknown customer
            contact_id = conv_svc.contact_of_customer(session, body.customer_id, now).id
        else:
            raise ValidationFailed("give the customer_id or contact_id the feedback is from")
    else:
        raise PermissionDenied("your role does not record feedback")
    fb = feedback.record_feedback(session, contact_id=contact_id, channel=body.channel, text=body.text, now=now)
    session.commit()
    return FeedbackOut.model_validate(fb)


@router.get("/feedback", response_model=list[FeedbackOut])
def list_feedback(status: str | None = None, kind: str | None = None, limit: int = Query(50, le=200),
                  offset: int = 0, user: Principal = Depends(staff_user),
                  session: Session = Depends(get_session)) -> list[FeedbackOut]:
    return [FeedbackOut.model_validate(f) for f in
            feedback.list_feedback(session, status=status, kind=kind, limit=limit, offset=offset)]


@router.post("/feedback/{feedback_id}/answer", response_model=FeedbackOut)
def answer(feedback_id: int, body: FeedbackAnswerIn, user: Principal = Depends(staff_user),
           session: Session = Depends(get_session)) -> FeedbackOut:
    fb = feedback.answer_feedback(session, feedback_id, user_id=user.id, answer=body.answer)
    session.commit()
    return FeedbackOut.model_validate(fb)


@router.put("/feedback/{feedback_id}/suggestion-status", response_model=FeedbackOut)
def suggestion_status(feedback_id: int, body: SuggestionStatusIn, user: Principal = Depends(supervisor),
                      session: Session = Depends(get_session)) -> FeedbackOut:
    fb = feedback.set_suggestion_status(session, feedback_id, body.status, user_id=user.id,
                                        shipped_in=body.shipped_in)
    session.commit()
    return FeedbackOut.model_validate(fb)


# --- CSAT and SLA -------------------------------------------------------------------------------

@router.post("/csat/{token}", response_model=CsatOut, summary="A customer's rating (the token is the link)")
def rate(token: str, body: CsatIn, session: Session = Depends(get_session)) -> CsatOut:
    survey = csat.record_response(session, token, body.score, comment=body.comment)
    session.commit()
    return CsatOut.model_validate(survey)


@router.get("/csat", response_model=list[CsatOut])
def list_csat(answered: bool | None = None, limit: int = Query(50, le=200), user: Principal = Depends(staff_user),
              session: Session = Depends(get_session)) -> list[CsatOut]:
    stmt = select(CsatSurvey)
    if answered is not None:
        stmt = stmt.where(CsatSurvey.responded_at.is_not(None) if answered else CsatSurvey.responded_at.is_(None))
    return [CsatOut.model_validate(s) for s in session.scalars(stmt.order_by(CsatSurvey.id.desc()).limit(limit))]


@router.post("/sla/check", response_model=SlaCheckOut, summary="Run the SLA job now (idempotent)")
def sla_check(now: datetime | None = None, user: Principal = Depends(supervisor),
              session: Session = Depends(get_session)) -> SlaCheckOut:
    if now is not None and now.tzinfo is None:
        raise ValidationFailed("now needs a UTC offset")
    conv_svc.route_stranded(session, now=now)
    result = sla.run_sla_check(session, now)
    closed = conv_svc.close_idle_conversations(session, now=now)
    session.commit()
    return SlaCheckOut(warned=result.warned, breached=result.breached, escalated=result.escalated,
                       closed_idle=closed)
