"""What other domains hand the outbox and what it answers (no tables leave the domain)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Channel = Literal["app", "sms", "wechat", "email"]
State = Literal["pending", "sending", "sent", "failed", "dead"]
STATES: tuple[str, ...] = ("pending", "sending", "sent", "failed", "dead")


class NewMessage(BaseModel):
    """One message to send. ``idempotency_key`` names it: the same key twice is one message.

    The recipient is a customer (``customer_id``: the address on file for the channel is read when
    the message is sent) or an explicit ``address`` (a prospect's phone, a WeChat openid the
    service hub knows, a staff member's e-mail); an explicit address wins.
    """

    model_config = ConfigDict(str_strip_whitespace=True, frozen=True)

    channel: Channel
    kind: str = Field(min_length=1, max_length=32)
    body: str = Field(min_length=1, max_length=20_000)
    idempotency_key: str = Field(min_length=1, max_length=160)
    origin: str = Field(min_length=1, max_length=24)
    origin_ref: str | None = Field(None, max_length=64)
    customer_id: int | None = None
    user_id: int | None = None
    address: str | None = Field(None, max_length=254)
    subject: str | None = Field(None, max_length=200)
    urgent: bool = False  # sent first, and also in quiet hours
    not_before: datetime | None = None
    expires_at: datetime | None = None  # not delivered by then: dead, not sent late

    @model_validator(mode="after")
    def _deliverable(self) -> NewMessage:
        if self.customer_id is None and not self.address:
            raise ValueError("a message needs a customer_id or an address")
        if self.channel == "email" and not self.subject:
            raise ValueError("an e-mail needs a subject")
        for moment in (self.not_before, self.expires_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("times must carry a time zone")
        return self


class Queued(BaseModel):
    id: int
    idempotency_key: str
    created: bool  # False: a message with this key already existed


class MessageView(BaseModel):
    """A message as staff see it: state, tries and error, the masked address, what it belongs to.
    ``body`` is None for roles not cleared for class-3 data; ``note`` explains a waiting message."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    idempotency_key: str
    channel: str
    kind: str
    urgent: bool
    customer_id: int | None
    user_id: int | None
    address_hint: str | None
    subject: str | None
    body: str | None
    origin: str
    origin_ref: str | None
    state: str
    attempts: int
    next_attempt_at: datetime
    expires_at: datetime | None
    last_error: str | None
    provider_message_id: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    note: str | None = None


class DeliveryState(BaseModel):
    """The delivery of one message, as the domain that wrote it shows it next to its own record."""

    id: int
    channel: str
    state: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    delivered: bool  # False once it is dead: staff should reach the customer another way


class ChannelSummary(BaseModel):
    channel: str
    configured: bool
    setting: str
    counts: dict[str, int]  # pending, sending, failed, dead
    oldest_due_s: float | None  # how long the oldest due message has waited


class ReceiptIn(BaseModel):
    """A gateway's delivery receipt: the provider's id of the message it delivered."""

    provider_message_id: str = Field(min_length=1, max_length=128)


class QuietHoursView(BaseModel):
    customer_id: int
    period: str | None  # "21:00-08:00"; None: none set
    source: Literal["customer", "default", "none"]
