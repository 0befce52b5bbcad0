"""What enters and leaves the service hub's API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Channel = Literal["app", "web", "wechat", "phone", "branch", "email"]


# --- channel payloads ---------------------------------------------------------------------------

class CallAgent(BaseModel):
    id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=32)
    extension: str | None = None


class CallSegment(BaseModel):
    speaker: Literal["customer", "agent"]
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    text: str = Field(max_length=4000)

    @model_validator(mode="after")
    def _ordered(self) -> CallSegment:
        if self.end_s < self.start_s:
            raise ValueError("segment ends before it starts")
        return self


class CallTranscript(BaseModel):
    """A finished call as a call-centre platform exports it after speech recognition."""

    call_id: str = Field(min_length=1, max_length=64)
    caller_number: str = Field(min_length=3, max_length=32)
    ivr_verified: bool = False  # the caller passed IVR verification (account + password / SMS code)
    account_no: str | None = Field(None, max_length=20)
    agent: CallAgent
    queue: str | None = None
    started_at: datetime
    ended_at: datetime
    disposition: Literal["resolved", "unresolved", "callback", "transferred", "abandoned"] = "resolved"
    segments: list[CallSegment] = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _times(self) -> CallTranscript:
        if self.started_at.tzinfo is None or self.ended_at.tzinfo is None:
            raise ValueError("started_at and ended_at need a UTC offset")
        if self.ended_at < self.started_at:
            raise ValueError("the call ends before it starts")
        return self


class MessageIn(BaseModel):
    """A message from the app, web chat or a branch counter (JSON)."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["app", "web", "branch", "wechat", "email", "phone"] = "app"
    text: str = Field(min_length=1, max_length=4000)
    client_msg_id: str | None = Field(None, max_length=64)
    sent_at: datetime | None = None
    # Staff-entered (branch) or gateway-supplied identities; a customer's own login wins.
    customer_id: int | None = None
    account_no: str | None = Field(None, max_length=20)
    phone: str | None = Field(None, max_length=32)
    wechat_openid: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=120)
    verified: bool = False
    display_name: str | None = Field(None, max_length=64)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("消息内容不能为空")
        return v


# --- answers ------------------------------------------------------------------------------------

class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    direction: str
    sender: str
    agent_id: int | None
    channel: str
    text: str
    sent_at: datetime


class RoutingOut(BaseModel):
    outcome: str
    rule: str
    skill: str | None
    priority: int


class ReceiveOut(BaseModel):
    status: Literal["routed", "queued", "duplicate"]
    message_id: int
    conversation_id: int
    contact_id: int
    customer_known: bool
    routing: RoutingOut | None = None
    replies: list[MessageOut] = []
    assigned_agent: str | None = None
    ticket_no: str | None = None


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int
    customer_id: int | None
    channel: str
    status: str
    skill: str | None
    priority: int
    assigned_agent_id: int | None
    preferred_agent_id: int | None
    waiting_since: datetime | None
    assigned_at: datetime | None
    handoff_summary: dict | None
    last_intent: str | None
    last_emotion: str | None
    started_at: datetime
    last_message_at: datetime
    closed_at: datetime | None


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class TransferIn(BaseModel):
    skill: str


class CapacityIn(BaseModel):
    max_concurrent: int = Field(ge=0, le=50)
    active: bool | None = None


class TicketIn(BaseModel):
    contact_id: int | None = None
    customer_id: int | None = None
    subject: str = Field(min_length=1, max_length=120)
    description: str = Field(min_length=1, max_length=8000)
    category: str = Field(min_length=1, max_length=32)
    department: str | None = None
    priority: Literal["emergency", "urgent", "general"] = "general"
    channel: Channel = "branch"
    conversation_id: int | None = None
    assignee_id: int | None = None

    @model_validator(mode="after")
    def _someone(self) -> TicketIn:
        if self.contact_id is None and self.customer_id is None:
            raise ValueError("give contact_id or customer_id")
        return self


class TicketTransitionIn(BaseModel):
    status: Literal["open", "in_progress", "waiting_on_customer", "resolved", "closed"]
    note: str | None = Field(None, max_length=4000)


class TicketCommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    public: bool = True


class TicketAssignIn(BaseModel):
    assignee_id: int | None


class SlaClockOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    metric: str
    policy: str
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    met_at: datetime | None
    paused_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    escalated_to_id: int | None


class TicketEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    from_status: str | None
    to_status: str | None
    actor_id: int | None
    note: str | None
    public: bool
    created_at: datetime


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_no: str
    contact_id: int
    customer_id: int | None
    conversation_id: int | None
    source: str
    category: str
    department: str
    priority: str
    status: str
    subject: str
    description: str
    channel: str
    assignee_id: int | None
    reopen_count: int
    resolution: str | None
    created_at: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


class TicketDetailOut(TicketOut):
    events: list[TicketEventOut] = []
    sla: list[SlaClockOut] = []


class FeedbackIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    channel: Channel = "app"
    customer_id: int | None = None
    contact_id: int | None = None


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int
    customer_id: int | None
    channel: str
    text: str
    kind: str
    category: str
    emotion: str | None
    status: str
    suggestion_status: str | None
    shipped_in: str | None
    answer: str | None
    answered_at: datetime | None
    created_at: datetime


class FeedbackAnswerIn(BaseModel):
    answer: str = Field(min_length=1, max_length=4000)


class SuggestionStatusIn(BaseModel):
    status: Literal["under_review", "accepted", "rejected", "shipped"]
    shipped_in: str | None = Field(None, max_length=40)


class CsatIn(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=1000)


class CsatOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_kind: str
    subject_id: int
    channel: str
    score: int | None
    comment: str | None
    sent_at: datetime
    responded_at: datetime | None


class SlaCheckOut(BaseModel):
    warned: int
    breached: int
    escalated: int
    closed_idle: int
