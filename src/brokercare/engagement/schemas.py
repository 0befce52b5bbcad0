"""What enters and leaves the engagement API (leads and managers' tasks)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    need: str
    need_label: str = ""
    manager_id: int | None
    score: float
    reason: str
    talking_points: list[str]
    state: Literal["new", "contacted", "won", "lost"]
    outcome: str | None
    amount: Decimal | None
    raised_on: date
    contacted_at: datetime | None
    closed_at: datetime | None


class LeadUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: Literal["contacted", "won", "lost"]
    outcome: str | None = Field(None, max_length=500, description="what came of it (won or lost)")
    amount: Decimal | None = Field(None, gt=0, max_digits=18, decimal_places=2,
                                   description="the amount won, in 元")


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    manager_id: int | None
    kind: str
    title: str
    script: str
    state: Literal["open", "done"]
    created_at: datetime
    due_at: datetime
    done_at: datetime | None
