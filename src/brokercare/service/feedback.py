"""Customer feedback from any channel: classified by the assistant, answered within 24 hours
(an SLA clock like a ticket's), and suggestions tracked through review to "accepted / shipped".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.service import sla
from brokercare.service.assistant import Analysis, placeholder
from brokercare.service.models import Contact, Feedback
from brokercare.service.outbound import send_to_contact
from brokercare.service.planner import analyze

KINDS = ("suggestion", "complaint", "praise", "question")
SUGGESTION_FLOW: dict[str | None, tuple[str, ...]] = {
    "under_review": ("accepted", "rejected"),
    "accepted": ("shipped", "rejected"),
    "rejected": ("under_review",),
    "shipped": (),
}


def classify(analysis: Analysis) -> str:
    """Feedback kind from the assistant's intent and emotion."""
    if analysis.intent == "complaint" or analysis.emotion in ("angry", "disappointed") and analysis.intensity >= 0.5:
        return "complaint"
    if analysis.intent == "feedback":
        return "praise" if analysis.emotion == "satisfied" else "suggestion"
    if analysis.emotion == "satisfied":
        return "praise"
    return "question"


def record_feedback(session: Session, *, contact_id: int, channel: str, text: str,
                    analysis: Analysis | None = None, kind: str | None = None,
                    ticket_id: int | None = None, now: datetime | None = None) -> Feedback:
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("意见内容不能为空")
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    if analysis is None:
        analysis = analyze(text) or placeholder("feedback")
    kind = kind or classify(analysis)
    if kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}")
    fb = Feedback(contact_id=contact_id, customer_id=contact.customer_id, channel=channel,
                  text=text[:4000], kind=kind, category=analysis.intent, emotion=analysis.emotion,
                  status="new", suggestion_status="under_review" if kind == "suggestion" else None,
                  ticket_id=ticket_id, created_at=now, updated_at=now)
    session.add(fb)
    session.flush()
    sla.start_clocks(session, "feedback", fb.id, "feedback", now)
    return fb


def answer_feedback(session: Session, feedback_id: int, *, user_id: int, answer: str,
                    now: datetime | None = None) -> Feedback:
    now = now or utcnow()
    answer = (answer or "").strip()
    if not answer:
        raise ValidationFailed("answer text is empty")
    fb = session.get(Feedback, feedback_id)
    if fb is None:
        raise NotFound(f"feedback {feedback_id} does not exist")
    if fb.status == "answered":
        raise Conflict(f"feedback {feedback_id} was already answered")
    fb.status, fb.answer, fb.answered_by_id, fb.answered_at, fb.updated_at = "answered", answer, user_id, now, now
    sla.meet(session, "feedback", fb.id, "answer", now)
    send_to_contact(session, fb.contact_id, fb.channel, f"感谢您的宝贵意见。{answer}",
                    kind="feedback_answer", dedupe_key=f"feedback_answer:{fb.id}", now=now)
    session.flush()
    return fb


def set_suggestion_status(session: Session, feedback_id: int, status: str, *, user_id: int,
                          shipped_in: str | None = None, now: datetime | None = None) -> Feedback:
    now = now or utcnow()
    fb = session.get(Feedback, feedback_id)
    if fb is None:
        raise NotFound(f"feedback {feedback_id} does not exist")
    if fb.kind != "suggestion":
        raise Conflict(f"feedback {feedback_id} is a {fb.kind}, not a suggestion")
    allowed = SUGGESTION_FLOW.get(fb.suggestion_status, ())
    if status not in allowed:
        raise Conflict(f"suggestion {feedback_id} cannot go from {fb.suggestion_status} to {status}; "
                       f"allowed: {', '.join(allowed) or 'none (final)'}")
    if status == "shipped" and not (shipped_in or "").strip():
        raise ValidationFailed("name the release the suggestion shipped in (shipped_in)")
    fb.suggestion_status = status
    fb.shipped_in = shipped_in.strip() if status == "shipped" and shipped_in else fb.shipped_in
    fb.updated_at = now
    if status == "shipped":
        send_to_contact(session, fb.contact_id, fb.channel,
                        f"您之前提出的建议已在 {fb.shipped_in} 中上线，感谢您帮助我们做得更好！",
                        kind="suggestion_shipped", dedupe_key=f"suggestion_shipped:{fb.id}", now=now)
    session.flush()
    return fb


def list_feedback(session: Session, *, status: str | None = None, kind: str | None = None,
                  limit: int = 50, offset: int = 0) -> list[Feedback]:
    stmt = select(Feedback)
    if status:
        stmt = stmt.where(Feedback.status == status)
    if kind:
        stmt = stmt.where(Feedback.kind == kind)
    return list(session.scalars(stmt.order_by(Feedback.id.desc()).limit(min(limit, 200)).offset(offset)))
