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
    overdue: bool = False  # open and past its due time


class LotIn(BaseModel):
    bought_on: date
    shares: int = Field(gt=0)


class DividendTaxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lots: list[LotIn] = Field(min_length=1, max_length=100)
    dividend_per_share: Decimal = Field(ge=0, max_digits=12, decimal_places=4)
    sold_shares: int = Field(gt=0)
    sold_on: date


class LotTaxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    bought_on: date
    shares: int
    dividend: Decimal
    rate: Decimal
    band: str
    tax: Decimal


class DividendTaxOut(BaseModel):
    lots: list[LotTaxOut]
    total_tax: Decimal


class LoanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    principal: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    annual_rate: Decimal = Field(ge=0, lt=1, description="0.031 for 3.1 %")
    years: int = Field(ge=1, le=30)
    method: Literal["equal_instalment", "equal_principal"] = "equal_instalment"


class LoanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    method: str
    months: int
    first_payment: Decimal
    last_payment: Decimal
    total_interest: Decimal
    total_paid: Decimal


class GoalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    years: int = Field(ge=1, le=50)
    annual_return: Decimal = Field(gt=-0.5, lt=1, description="expected, 0.04 for 4 %")
    saved: Decimal = Field(Decimal(0), ge=0, max_digits=14, decimal_places=2)


class GoalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    months: int
    monthly_saving: Decimal
    from_savings: Decimal
    total_saved: Decimal


class BenefitOut(BaseModel):
    """A welcome benefit: ``quantity`` granted, ``used`` so far, valid until the day given."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    kind: str
    title: str
    quantity: int
    used: int
    valid_until: date


class IpoEstimateOut(BaseModel):
    """A new share's first-day estimate from comparable recent listings (``basis``: industry,
    board, or none when there were too few)."""

    model_config = ConfigDict(from_attributes=True)

    symbol: str
    name: str
    comparables: int
    basis: Literal["industry", "board", "none"]
    median: float | None
    low: float | None
    high: float | None
    broke: int
    lot_gain: float | None
    text: str


class TeamMemberOut(BaseModel):
    role: str
    name: str
    user_id: int


# --- the education library and the communities ----------------------------------------------

class ContentOut(BaseModel):
    key: str
    kind: Literal["article", "video", "quiz"]
    title: str
    summary: str
    topics: list[str]
    minutes: int
    essential: bool
    url: str | None = None
    reason: str | None = Field(None, description="why it is recommended to this customer")
    state: Literal["done", "passed", "failed", "started"] | None = Field(
        None, description="the customer's progress: read/watched, quiz passed or failed")


class QuestionOut(BaseModel):
    q: str
    options: list[str]


class ContentDetailOut(ContentOut):
    body_html: str = ""
    questions: list[QuestionOut] = []
    pass_mark: int | None = None


class CompletionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    finished: int
    total: int
    essentials_finished: int
    essentials: int
    quizzes_passed: int


class QuizAnswers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: list[int] = Field(description="the chosen option (from 0) of each question, in order")


class MarkedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    question: str
    chosen: str | None
    correct: str
    right: bool
    explanation: str


class GradedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    title: str
    score: int
    total: int
    pass_mark: int
    passed: bool
    best_score: int
    attempts: int
    questions: list[MarkedOut]


class CommunityOut(BaseModel):
    key: str
    name: str
    description: str
    host: str
    members: int
    joined: bool
    matched: list[str] = Field(description="why it suits the customer, in their words (from their profile)")


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=5000)
    parent_id: int | None = Field(None, description="the post this replies to")


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    community: str
    parent_id: int | None
    author: str
    body: str
    state: Literal["published", "held", "rejected"]
    held_reason: str | None
    moderation_note: str | None
    created_at: datetime


class ThreadOut(BaseModel):
    post: PostOut
    replies: list[PostOut]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Literal["publish", "reject"]
    note: str | None = Field(None, max_length=500, description="required when rejecting: the author reads it")
