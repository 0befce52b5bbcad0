"""Set-up of the relationships staff reach customers by (security.access): a conversation a
member of staff is serving. Managers and advisors: ``customers.service.assign_staff``."""

from __future__ import annotations

from sqlalchemy import select

from brokercare.core.database import utcnow
from brokercare.service.models import Contact, Conversation


def serve(session, agent, customer_id: int, *, channel: str = "app") -> Conversation:
    """The customer's open conversation (a new one if none is open), assigned to ``agent``, who
    serves the customer while it stays assigned; committed."""
    contact = session.scalar(select(Contact).where(Contact.customer_id == customer_id))
    if contact is None:
        contact = Contact(customer_id=customer_id, kind="customer", label=f"客户 #{customer_id}")
        session.add(contact)
        session.flush()
    conv = session.scalar(select(Conversation).where(Conversation.contact_id == contact.id,
                                                     Conversation.status != "closed").limit(1))
    if conv is None:
        conv = Conversation(contact_id=contact.id, customer_id=customer_id, channel=channel)
        session.add(conv)
    conv.status, conv.assigned_agent_id, conv.assigned_at = "assigned", agent.id, utcnow()
    session.commit()
    return conv
