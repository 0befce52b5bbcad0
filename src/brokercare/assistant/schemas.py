"""What enters and leaves the assistant API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnalyzeRequest(BaseModel):
    text: str = Field(..., min_length=1, max_length=2000, description="The customer's message.")


class IntentScore(BaseModel):
    label: str
    confidence: float


class EntityOut(BaseModel):
    kind: str
    text: str
    start: int
    end: int
    value: str
    extra: dict | None = None


class AnalyzeResponse(BaseModel):
    text: str
    intent: str
    confidence: float
    skill: str | None
    intents: list[IntentScore]
    emotion: str
    intensity: float
    emotion_scores: dict[str, float]
    entities: list[EntityOut]
    model_versions: dict[str, str]


class ReplyRequest(BaseModel):
    customer_id: int | None = Field(None, description="Staff only: the customer being served.")
    text: str = Field(..., min_length=1, max_length=2000)
    channel: str = Field("app", pattern="^(app|web|wechat|phone|branch|email)$")


class GuardOut(BaseModel):
    passed: bool
    action: str
    violations: list[dict]


class ReplyResponse(BaseModel):
    text: str
    sources: list[dict]
    guard: GuardOut
    handoff: bool
    handoff_reason: str | None = Field(None, description="why a person should take over: a stable code "
                                       "(intent_needs_human, no_kb_answer, below_liquidation_line, "
                                       "account_restricted, transfer_pending_anxious, compliance_block, "
                                       "angry_customer, low_confidence)")
    handoff_reason_zh: str | None = Field(None, description="the same reason in words for the agent")
    skill: str | None
    drafted_by: str
    analysis: AnalyzeResponse
