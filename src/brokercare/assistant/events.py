"""Events the assistant publishes for others: ``customer.need_stated`` when a customer tells it of
a need their customer manager should take up (engagement raises the lead)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from brokercare.core.bus import register_event_type

NEED_STATED = "customer.need_stated"


class NeedStated(BaseModel):
    """Payload of ``customer.need_stated`` (the event's ``customer_id`` is the customer)."""

    need: str = Field(description="the need's key in engagement/data/leads.yaml")
    said: str = Field(max_length=200, description="the customer's words (typed PII already masked)")


register_event_type(NEED_STATED, NeedStated)
