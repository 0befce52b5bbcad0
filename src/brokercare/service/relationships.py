"""The relationships the service hub records for the security policy (:mod:`brokercare.security.access`
discovers ``PROVIDERS``): a member of staff serves a customer while one of the customer's
conversations is assigned to them, or handles the customer's case while an open ticket is assigned
to them. One read on an assignee index each."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.security.access import SERVING, TICKET, Provider
from brokercare.security.policy import SERVING_ROLES
from brokercare.service.models import Conversation, Ticket
from brokercare.service.tickets import OPEN_STATES


def _serving(session: Session, staff_id: int, customer_id: int) -> str | None:
    conversation_id = session.scalar(select(Conversation.id).where(
        Conversation.assigned_agent_id == staff_id, Conversation.status == "assigned",
        Conversation.customer_id == customer_id).limit(1))
    return None if conversation_id is None else f"conversation:{conversation_id}"


def _handling(session: Session, staff_id: int, customer_id: int) -> str | None:
    ticket_id = session.scalar(select(Ticket.id).where(
        Ticket.assignee_id == staff_id, Ticket.status.in_(OPEN_STATES), Ticket.customer_id == customer_id).limit(1))
    return None if ticket_id is None else f"ticket:{ticket_id}"


PROVIDERS = (Provider(SERVING, frozenset(SERVING_ROLES), _serving),
             Provider(TICKET, frozenset(SERVING_ROLES), _handling))
