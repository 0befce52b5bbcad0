"""What enters and leaves the advisory API."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class CheckIn(BaseModel):
    investor: str = Field(..., examples=["C3"], description="C1..C5 or professional")
    product_risk: str = Field(..., examples=["R4"], description="R1..R5")


class AssessmentIn(BaseModel):
    answers: dict[str, str] = Field(..., description="question id -> option key (A, B, ...)")
    round: int = Field(1, ge=1, le=2, description="2 when answering the clarification questions")


class ConfirmationIn(BaseModel):
    product: str = Field(..., min_length=1, max_length=32, examples=["512100.SH"])
    channel: str = Field("app", max_length=12)


class GoalIn(BaseModel):
    customer_id: int
    kind: str = Field(..., examples=["education"])
    target_amount: float = Field(..., gt=0)
    years: float = Field(..., gt=0, le=40)
    initial: float = Field(0, ge=0)
    monthly: float = Field(0, ge=0)


class DriftIn(BaseModel):
    customer_id: int
    years_left: float | None = Field(None, gt=0, le=40)
    holdings: dict[str, float] = Field(..., description="symbol -> market value in 元")


class GoalCreate(BaseModel):
    kind: str = Field(..., examples=["education"])
    name: str | None = Field(None, max_length=40, examples=["女儿大学教育金"])
    target_amount: float = Field(..., gt=0)
    target_date: date
    current_value: float = Field(0, ge=0)
    monthly: float = Field(0, ge=0)


class GoalReview(BaseModel):
    current_value: float | None = Field(None, ge=0)
    monthly: float | None = Field(None, ge=0)


class ProfessionalIn(BaseModel):
    financial_assets: float = Field(..., ge=0, description="元")
    avg_income_3y: float = Field(..., ge=0, description="元 per year, average of the last 3 years")
    experience_years: float = Field(..., ge=0)
