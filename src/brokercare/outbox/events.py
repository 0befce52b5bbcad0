"""Events the outbox publishes on the bus."""

from __future__ import annotations

from pydantic import BaseModel

from brokercare.core.bus import register_event_type

#: A message was given up on (refused for good, too many tries, or expired): the domain it came
#: from shows it as undelivered and may reach the customer another way.
MESSAGE_DEAD = "outbox.message_dead"


class MessageDead(BaseModel):
    message_id: int
    channel: str
    kind: str
    origin: str
    origin_ref: str | None
    customer_id: int | None
    attempts: int
    error: str


register_event_type(MESSAGE_DEAD, MessageDead)
