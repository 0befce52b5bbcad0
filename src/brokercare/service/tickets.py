"""Tickets: what the AI could not close, every complaint, and what staff open by hand.

States: open → in_progress → waiting_on_customer → resolved → closed, with reopen from resolved
or closed. Every state change is a :class:`TicketEvent` and a ``ticket.state_changed`` ledger
entry in the same transaction; a transition the workflow does not allow is refused with the list
of allowed ones and nothing is written.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.security.service import users_by_id
from brokercare.service import cases, sla
from brokercare.service.assistant import intent_name, intent_skill
from brokercare.service.audit import batching, ledger_append
from brokercare.service.csat import request_csat
from brokercare.service.models import Contact, Conversation, Message, Ticket, TicketEvent
from brokercare.service.outbound import send_to_contact

STATES = ("open", "in_progress", "waiting_on_customer", "resolved", "closed")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("in_progress", "waiting_on_customer", "resolved"),
    "in_progress": ("waiting_on_customer", "resolved", "open"),
    "waiting_on_customer": ("in_progress", "resolved"),
    "resolved": ("closed", "open"),
    "closed": ("open",),
}
OPEN_STATES = ("open", "in_progress", "waiting_on_customer")
SOURCES = ("ai_unresolved", "complaint", "staff", "feedback", "emergency", "after_hours", "phone")
DEPARTMENTS = ("trading", "margin", "funds", "complaints", "tax", "legal", "account_security",
               "account_service")


def _get(session: Session, ticket_id: int, *, lock: bool = False) -> Ticket:
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        stmt = stmt.with_for_update()
    ticket = session.scalar(stmt)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    return _get(session, ticket_id)


def create_ticket(session: Session, *, contact_id: int, subject: str, description: str,
                  category: str, department: str | None = None, priority: str = "general",
                  source: str = "staff", channel: str = "app", conversation_id: int | None = None,
                  assignee_id: int | None = None, created_by_id: int | None = None,
                  now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    if priority not in sla.PRIORITIES:
        raise ValidationFailed(f"priority must be one of {', '.join(sla.PRIORITIES)}")
    if source not in SOURCES:
        raise ValidationFailed(f"source must be one of {', '.join(SOURCES)}")
    department = department or intent_skill(category) or "account_service"
    if department not in DEPARTMENTS:
        raise ValidationFailed(f"department must be one of {', '.join(DEPARTMENTS)}")
    subject = (subject or "").strip()[:120]
    if not subject:
        raise ValidationFailed("工单标题不能为空")
    ticket = Ticket(
        ticket_no="pending", contact_id=contact_id, customer_id=contact.customer_id,
        conversation_id=conversation_id, source=source, category=category, department=department,
        priority=priority, status="open", subject=subject, description=description or subject,
        channel=channel, assignee_id=assignee_id, created_by_id=created_by_id, created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    ticket.ticket_no = f"TK{now.astimezone(sla._shanghai()):%Y%m%d}{ticket.id:06d}"
    session.add(TicketEvent(ticket_id=ticket.id, kind="created", to_status="open",
                            actor_id=created_by_id, note=f"source={source}", created_at=now))
    sla.start_clocks(session, "ticket", ticket.id, priority, now)
    ledger_append(session, "ticket.state_changed", f"ticket:{ticket.id}", {
        "ticket_no": ticket.ticket_no, "from": None, "to": "open", "actor": created_by_id,
        "source": source, "priority": priority, "department": department,
        "customer_id": contact.customer_id, "at": now.isoformat(),
    })
    if not batching(session):  # a routed batch writes the number, event and clocks with its other rows
        session.flush()
    return ticket


# A customer asking for a person says nothing about the case: never a ticket's subject.
_ASKS_FOR_A_PERSON = re.compile(r"^\s*(转|找|要|接)?\s*(人工|真人|客服)(客服|服务|坐席)?\s*[!！。.？?]*\s*$")


def case_ticket(session: Session, conv: Conversation, *, staff_id: int,
                now: datetime | None = None) -> tuple[Ticket, bool]:
    """The conversation's one open ticket: the one routing or a colleague already opened, else a
    new one whose subject says what the case is (its intent and the customer's own words about it,
    not "转人工"). Returns the ticket and whether it was created now."""
    existing = session.scalar(select(Ticket).where(
        Ticket.conversation_id == conv.id, Ticket.status.in_(OPEN_STATES)).order_by(Ticket.id).limit(1))
    if existing is not None:
        return existing, False
    said = list(session.scalars(select(Message).where(
        Message.conversation_id == conv.id, Message.sender == "customer").order_by(Message.id)))
    case = next((m for m in reversed(said) if not _ASKS_FOR_A_PERSON.match(m.text)), None)
    about = case.text if case is not None else "（客户未说明）"
    intents = ((case.analysis or {}).get("intents") if case is not None else None) or []
    intent = intents[0][0] if intents else conv.last_intent
    summary = conv.handoff_summary or {}
    description = summary.get("text") or "\n".join(f"[客户] {m.text}" for m in said[-8:]) or about
    name = intent_name(intent) if intent and intent != "human_agent" else "人工服务"
    ticket = create_ticket(
        session, contact_id=conv.contact_id, subject=f"{name}：{about[:40]}", description=str(description),
        category=intent or "human_agent", priority="general", source="staff", channel=conv.channel,
        conversation_id=conv.id, created_by_id=staff_id, assignee_id=staff_id, now=now)
    return ticket, True


def transition(session: Session, ticket_id: int, to_status: str, *, actor_id: int | None,
               note: str | None = None, now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    if to_status not in STATES:
        raise ValidationFailed(f"unknown ticket state {to_status!r}; states are {', '.join(STATES)}")
    ticket = _get(session, ticket_id, lock=True)
    allowed = TRANSITIONS[ticket.status]
    if to_status not in allowed:
        raise Conflict(
            f"ticket {ticket.ticket_no} cannot go from {ticket.status} to {to_status}; "
            f"allowed: {', '.join(allowed)}",
            extra={"current": ticket.status, "allowed": list(allowed)},
        )
    if to_status == "resolved" and not (note or ticket.resolution):
        raise ValidationFailed("resolving a ticket needs a resolution note for the customer")
    before = ticket.status
    reopening = before in ("resolved", "closed") and to_status == "open"
    ticket.status = to_status
    ticket.updated_at = now
    if to_status == "in_progress" and ticket.assignee_id is None and actor_id is not None:
        ticket.assignee_id = actor_id
    if to_status in ("waiting_on_customer", "resolved") and ticket.first_responded_at is None:
        ticket.first_responded_at = now
        sla.meet(session, "ticket", ticket.id, "first_response", now)
    if to_status == "waiting_on_customer":
        sla.pause(session, "ticket", ticket.id, now)
    elif before == "waiting_on_customer":
        sla.resume(session, "ticket", ticket.id, now)
    if to_status == "resolved":
        ticket.resolved_at = now
        ticket.resolution = note or ticket.resolution
        sla.meet(session, "ticket", ticket.id, "resolution", now)
        cases.case_resolved(session, ticket)  # now a case the hand-off summary can point to
    if to_status == "closed":
        ticket.closed_at = now
    if reopening:
        ticket.reopen_count += 1
        ticket.resolved_at = ticket.closed_at = None
        sla.restart(session, "ticket", ticket.id, "resolution", now)
        cases.case_reopened(session, ticket.id)
    session.add(TicketEvent(ticket_id=ticket.id, kind="state_changed", from_status=before,
                            to_status=to_status, actor_id=actor_id, note=note, created_at=now,
                            public=to_status in ("waiting_on_customer", "resolved")))
    ledger_append(session, "ticket.state_changed", f"ticket:{ticket.id}", {
        "ticket_no": ticket.ticket_no, "from": before, "to": to_status, "actor": actor_id,
        "reopen": reopening, "at": now.isoformat(),
    })
    session.flush()
    if to_status == "closed":
        request_csat(session, "ticket", ticket.id, now=now)
    return ticket


def respond(session: Session, ticket_id: int, *, actor_id: int, text: str, public: bool = True,
            now: datetime | None = None) -> TicketEvent:
    """A staff comment; a public one is the customer's answer and meets first response."""
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("comment text is empty")
    ticket = _get(session, ticket_id, lock=True)
    if ticket.status == "closed":
        raise Conflict(f"ticket {ticket.ticket_no} is closed; reopen it before commenting")
    event = TicketEvent(ticket_id=ticket.id, kind="comment", actor_id=actor_id, note=text,
                        public=public, created_at=now)
    session.add(event)
    if public:
        if ticket.first_responded_at is None:
            ticket.first_responded_at = now
            sla.meet(session, "ticket", ticket.id, "first_response", now)
        send_to_contact(session, ticket.contact_id, ticket.channel,
                        f"【工单 {ticket.ticket_no}】{text}", kind="ticket_reply",
                        conversation_id=ticket.conversation_id, agent_id=actor_id, now=now)
    ticket.updated_at = now
    session.flush()
    return event


def assign(session: Session, ticket_id: int, assignee_id: int | None, *, actor_id: int | None,
           now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    ticket = _get(session, ticket_id, lock=True)
    if assignee_id is not None:
        user = users_by_id(session, [assignee_id]).get(assignee_id)
        if user is None or not user.active or user.role == "customer":
            raise ValidationFailed(f"user {assignee_id} is not active service staff")
    ticket.assignee_id = assignee_id
    ticket.updated_at = now
    session.add(TicketEvent(ticket_id=ticket.id, kind="assigned", actor_id=actor_id,
                            note=f"assignee={assignee_id}", created_at=now))
    session.flush()
    return ticket


def open_ticket_counts(session: Session, contact_ids: list[int]) -> dict[int, int]:
    """Open tickets per contact, for many contacts in one read (absent: none open)."""
    return dict(session.execute(
        select(Ticket.contact_id, func.count(Ticket.id)).where(
            Ticket.contact_id.in_(list(contact_ids)), Ticket.status.in_(OPEN_STATES))
        .group_by(Ticket.contact_id)).all())


def list_tickets(session: Session, *, status: str | None = None, department: str | None = None,
                 assignee_id: int | None = None, customer_id: int | None = None,
                 limit: int = 50, offset: int = 0) -> list[Ticket]:
    stmt = select(Ticket)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if department:
        stmt = stmt.where(Ticket.department == department)
    if assignee_id:
        stmt = stmt.where(Ticket.assignee_id == assignee_id)
    if customer_id:
        stmt = stmt.where(Ticket.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(Ticket.id.desc()).limit(min(limit, 200)).offset(offset)))


def events_of(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)))
