"""What enters and leaves the risk API: events (the same columns as the event file, see
``docs/risk.md``), decisions, measures, cases and their timelines."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from brokercare.core.events_intake import EventColumns

EventType = Literal["login", "login_failed", "password_change", "device_change", "transfer_out",
                    "transfer_in", "order"]


class RiskEventIn(EventColumns):
    """One event as a trading system posts it (the columns of ``core.events_intake``, where
    ``card`` is the bank card's token, never the card number)."""

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=64)
    type: EventType
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _complete(self) -> RiskEventIn:
        if self.type in ("transfer_out", "transfer_in") and self.amount is None:
            raise ValueError(f"a {self.type} event needs its amount")
        if self.type != "login_failed" and self.customer_id is None:
            raise ValueError(f"a {self.type} event needs the customer it concerns")
        return self


class Reason(BaseModel):
    code: str
    text: str


class Assessment(BaseModel):
    """The decision on one event: what the caller must do and what the customer is told."""

    event_id: str
    customer_id: int | None
    action: Literal["allow", "step_up", "hold", "freeze"]
    score: int
    reasons: list[Reason]
    message: str
    measure_id: int | None = None
    case_id: int | None = None
    place: str | None = None
    duplicate: bool = False


class MeasureOut(BaseModel):
    id: int
    customer_id: int
    kind: str
    status: str
    message: str
    amount: Decimal | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: int | None
    resolution: str | None
    case_id: int | None


class RiskStatus(BaseModel):
    """What a customer may do now, and why not: read by the customer after logging in."""

    customer_id: int
    frozen: bool
    may_transfer_out: bool
    may_trade: bool
    message: str
    measures: list[MeasureOut]


class TimelineItem(BaseModel):
    at: datetime
    what: Literal["event", "measure", "note"]
    title: str
    detail: str
    data: dict = Field(default_factory=dict)


class CaseOut(BaseModel):
    id: int
    subject: str
    customer_id: int | None
    kind: str
    status: str
    priority: int
    summary: str
    assigned_to: int | None
    outcome: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class CaseDetail(CaseOut):
    timeline: list[TimelineItem]
    open_measures: list[MeasureOut]


class DeskDecision(BaseModel):
    reason: str = Field(..., min_length=4, max_length=400, description="Why, for the record.")


class CaseClosing(DeskDecision):
    outcome: Literal["fraud", "legitimate", "inconclusive"]


class StepUpStart(BaseModel):
    method: Literal["sms", "totp"] = "sms"


class StepUpOut(BaseModel):
    challenge_id: int
    method: str
    expires_at: datetime
    message: str


class StepUpAnswer(BaseModel):
    code: str = Field(..., pattern=r"^\d{6}$")


class StepUpResult(BaseModel):
    passed: bool
    status: str
    message: str
