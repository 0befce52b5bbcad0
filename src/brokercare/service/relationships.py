"""The relationships the service hub records for the security policy (:mod:`brokercare.security.access`
discovers ``PROVIDERS``): a member of staff serves a customer while one of the customer's
conversations is assigned to them, or handles the customer's case while an open ticket is assigned
to them; a team lead supervises a conversation assigned to an agent of their team or waiting in the
queue for someone to take it. One indexed read each."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from brokercare.security.access import SERVING, SUPERVISING, TICKET, Provider
from brokercare.security.policy import SERVING_ROLES
from brokercare.service.models import AgentProfile, Conversation, Ticket
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


def _supervising(session: Session, lead_id: int, customer_id: int) -> str | None:
    team = select(AgentProfile.user_id).where(AgentProfile.team_lead_id == lead_id)
    conversation_id = session.scalar(select(Conversation.id).where(
        Conversation.customer_id == customer_id,
        or_(Conversation.status == "waiting",
            (Conversation.status == "assigned") & Conversation.assigned_agent_id.in_(team))).limit(1))
    return None if conversation_id is None else f"conversation:{conversation_id}"


PROVIDERS = (Provider(SERVING, frozenset(SERVING_ROLES), _serving),
             Provider(TICKET, frozenset(SERVING_ROLES), _handling),
             Provider(SUPERVISING, frozenset({"team_lead"}), _supervising))
