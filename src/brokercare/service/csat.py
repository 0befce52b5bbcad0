"""CSAT: a satisfaction request after every closed conversation and ticket, on the channel the
customer used, and the recording of the answer (from a link, an API call, or a bare "5" typed
back on WeChat or in the app).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.service.models import Conversation, CsatSurvey, Message, Ticket
from brokercare.service.outbound import send_to_contact
from brokercare.service.teaching import csat_recorded

_PROMPT = {
    "conversation": "您好，本次服务已结束。请为本次服务打分：直接回复 1–5（5 分非常满意，1 分非常不满意），"
                    "您的评价将帮助我们改进。",
    "ticket": "您好，您的工单 {no} 已处理完毕。请为处理结果打分：直接回复 1–5（5 分非常满意，1 分非常不满意）。",
}


def request_csat(session: Session, subject_kind: str, subject_id: int, *,
                 now: datetime | None = None) -> CsatSurvey | None:
    """Create the survey and its delivery on the subject's channel; once per subject."""
    now = now or utcnow()
    if subject_kind == "conversation":
        conv = session.get(Conversation, subject_id)
        if conv is None:
            raise NotFound(f"conversation {subject_id} does not exist")
        has_customer_message = session.scalar(select(Message.id).where(
            Message.conversation_id == conv.id, Message.sender == "customer").limit(1))
        if has_customer_message is None:
            return None
        contact_id, customer_id, channel, agent_id = conv.contact_id, conv.customer_id, conv.channel, conv.assigned_agent_id
        prompt, conversation_id = _PROMPT["conversation"], conv.id
    elif subject_kind == "ticket":
        ticket = session.get(Ticket, subject_id)
        if ticket is None:
            raise NotFound(f"ticket {subject_id} does not exist")
        contact_id, customer_id, channel, agent_id = ticket.contact_id, ticket.customer_id, ticket.channel, ticket.assignee_id
        prompt, conversation_id = _PROMPT["ticket"].format(no=ticket.ticket_no), None
    else:
        raise ValidationFailed("CSAT subjects are conversations and tickets")
    if session.scalar(select(CsatSurvey.id).where(CsatSurvey.subject_kind == subject_kind,
                                                  CsatSurvey.subject_id == subject_id)) is not None:
        return None
    token = secrets.token_urlsafe(16)
    survey = CsatSurvey(subject_kind=subject_kind, subject_id=subject_id, contact_id=contact_id,
                        customer_id=customer_id, channel=channel, token=token, agent_id=agent_id,
                        sent_at=now)
    try:
        with session.begin_nested():
            session.add(survey)
    except IntegrityError:
        return None
    if channel == "email":
        prompt += f"\n也可以点击链接评价：/csat/{token}"
    # The thread of an open app/web conversation shows the prompt; other channels get an outbox row.
    send_to_contact(session, contact_id, channel, prompt, kind="csat_request",
                    conversation_id=conversation_id if channel in ("app", "web", "branch") else None,
                    subject="服务满意度评价" if channel == "email" else None,
                    dedupe_key=f"csat:{subject_kind}:{subject_id}", now=now)
    session.flush()
    return survey


def record_response(session: Session, token: str, score: int, *, comment: str | None = None,
                    channel: str | None = None, now: datetime | None = None) -> CsatSurvey:
    now = now or utcnow()
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise ValidationFailed("评分须为 1 到 5 的整数")
    survey = session.scalar(select(CsatSurvey).where(CsatSurvey.token == token).with_for_update())
    if survey is None:
        raise NotFound("评价链接无效或已过期")
    if survey.responded_at is not None:
        raise Conflict("您已经评价过本次服务，感谢您的反馈")
    survey.score, survey.comment = score, (comment or "").strip()[:1000] or None
    survey.responded_at, survey.response_channel = now, channel or survey.channel
    session.flush()
    csat_recorded(session, survey)  # a low score: the assistant's pool gets the last question
    return survey
