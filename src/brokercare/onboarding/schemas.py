"""What enters and leaves the account-opening API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class StartIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    phone: str = Field(max_length=20, examples=["13912345678"])
    password: str = Field(min_length=1, max_length=128, description="The password the customer will log in with.")


class StandingOut(BaseModel):
    application_no: str
    state: str
    state_zh: str
    next_step: str = Field(description="identity, risk, agreements, bank, submit, wait or done")
    step_no: int
    steps_total: int
    account_no: str | None
    one_code_no: str | None = Field(None, description="中国结算 一码通账户号码")
    sh_holder_no: str | None = Field(None, description="上海证券账户 (A 股)")
    sz_holder_no: str | None = Field(None, description="深圳证券账户 (A 股)")
    risk_level: str | None
    bank_name: str | None
    card_tail: str | None
    review_note: str | None
    customer_seconds: float | None = Field(description="From the start to the applicant's submit.")
    started_at: datetime


class StartedOut(StandingOut):
    token: str = Field(description="Send as X-Opening-Token on each step; shown once.")


class ReviewOut(BaseModel):
    code: str
    text: str


class StepOut(BaseModel):
    standing: StandingOut
    reviews: list[ReviewOut] = []


class QuestionnaireIn(BaseModel):
    answers: dict[str, str] = Field(examples=[{"age": "B", "income": "C"}])
    round: int = Field(1, ge=1, le=2)


class QuestionnaireOut(BaseModel):
    standing: StandingOut
    result: dict


class AgreementOut(BaseModel):
    code: str
    version: str
    title: str
    text: str
    sha256: str


class SignIn(BaseModel):
    signed: dict[str, str] = Field(description="Each agreement's code -> the SHA-256 of the text shown.")


class BankIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    bank: str = Field(min_length=2, max_length=32, examples=["工商银行"])
    card_no: str = Field(min_length=12, max_length=30)


class DecisionIn(BaseModel):
    note: str = Field("", max_length=500, description="Approve: optional note; reject: the reason shown.")


class QueueItemOut(BaseModel):
    application_no: str
    customer_id: int | None
    masked_name: str
    risk_level: str | None
    bank_name: str | None
    card_tail: str | None
    face_similarity: float | None
    reasons: list[ReviewOut]
    started_at: datetime
    submitted_at: datetime | None
