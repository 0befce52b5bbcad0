"""The customer-journey vocabulary every domain publishes into: ``journey.step`` events.

A journey (opening an account, the risk questionnaire, a bank transfer, a fund order, a chat that
ends in a resolution) is a fixed sequence of steps; one instance of it is named by ``ref`` (e.g.
``transfer:BT20261103000123``), which every step of that instance carries. A domain publishes a
step when the customer reaches it (:func:`journey_step`, after its transaction commits); the
quality domain stores the steps and draws the funnels, with the step where customers drop out
(docs/quality.md). The vocabulary lives in ``core`` so that any domain can publish without
depending on the quality domain.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from brokercare.core.bus import Event, register_event_type

JOURNEY_STEP = "journey.step"

#: Each journey's steps in order, with what staff read.
JOURNEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "account_opening": (("started", "开始开户"), ("identity_verified", "身份验证"), ("risk_assessed", "风险测评"),
                        ("agreement_signed", "签署协议"), ("bank_bound", "绑定存管银行"),
                        ("submitted", "提交申请"), ("opened", "开户完成"), ("first_deposit", "首次入金")),
    "risk_questionnaire": (("started", "开始测评"), ("answered", "完成答题"), ("submitted", "提交测评")),
    "bank_transfer": (("started", "发起转账"), ("requested", "转账受理"), ("sent", "银行处理"),
                      ("confirmed", "转账到账")),
    "fund_order": (("started", "开始下单"), ("suitability_checked", "适当性匹配"), ("confirmed", "确认下单"),
                   ("paid", "完成支付"), ("accepted", "份额确认")),
    "chat_to_resolution": (("started", "发起咨询"), ("closed", "会话结束"), ("resolved", "24 小时内未再来访")),
}
JOURNEY_LABELS = {"account_opening": "开户", "risk_questionnaire": "风险测评", "bank_transfer": "银证转账",
                  "fund_order": "基金下单", "chat_to_resolution": "咨询到解决"}


def step_number(journey: str, step: str) -> int:
    """The step's place in its journey, from 1 (``ValueError`` for an unknown journey or step)."""
    steps = [name for name, _ in JOURNEYS.get(journey, ())]
    if step not in steps:
        raise ValueError(f"unknown journey step {journey}.{step}; steps: {', '.join(steps) or 'no such journey'}")
    return steps.index(step) + 1


class JourneyStep(BaseModel):
    """Payload of ``journey.step``."""

    journey: str
    step: str
    ref: str = Field(min_length=1, max_length=64)  # one instance of the journey
    customer_id: int | None = None
    channel: str | None = Field(None, max_length=12)  # app, web, wechat, phone, branch, email
    at: datetime

    @model_validator(mode="after")
    def _known(self) -> JourneyStep:
        step_number(self.journey, self.step)
        if self.at.tzinfo is None:
            raise ValueError("the step's time must carry a time zone")
        return self


register_event_type(JOURNEY_STEP, JourneyStep)


def journey_step(journey: str, step: str, *, ref: str, at: datetime, customer_id: int | None = None,
                 channel: str | None = None) -> Event:
    """The ``journey.step`` event of one step (checked against the vocabulary), ready to publish."""
    payload = JourneyStep(journey=journey, step=step, ref=ref, customer_id=customer_id, channel=channel, at=at)
    return Event(JOURNEY_STEP, payload.model_dump(mode="json"), customer_id=customer_id)
