"""The back office's review queue: applications whose checks could not clear them (OCR or face
disagreeing, an age at the edge of the rules, a card the BIN table cannot name), approved — the
account is issued — or rejected with a reason the applicant reads. Each decision is ledgered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.customers import service as customers
from brokercare.ledger.service import append
from brokercare.onboarding.journey import issue_account
from brokercare.onboarding.models import OpeningApplication
from brokercare.security.service import mask_name


@dataclass(frozen=True)
class QueueItem:
    application_no: str
    customer_id: int | None
    masked_name: str
    risk_level: str | None
    bank_name: str | None
    card_tail: str | None
    face_similarity: float | None
    reasons: list[dict]
    started_at: datetime
    submitted_at: datetime | None


def review_queue(session: Session, *, limit: int = 100) -> list[QueueItem]:
    """Applications waiting for a person, the longest-waiting first (names masked)."""
    apps = list(session.scalars(select(OpeningApplication).where(OpeningApplication.state == "in_review")
                                .order_by(OpeningApplication.submitted_at, OpeningApplication.id).limit(limit)))
    names = {c.id: c.name for c in customers.get_customers(session, [a.customer_id for a in apps if a.customer_id])}
    return [QueueItem(a.application_no, a.customer_id, mask_name(names.get(a.customer_id, "")), a.risk_level,
                      a.bank_name, a.card_tail, a.face_similarity, list(a.review_reasons or []), a.started_at,
                      a.submitted_at) for a in apps]


def waiting_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(OpeningApplication.state == "in_review")) or 0


def _waiting(session: Session, application_no: str) -> OpeningApplication:
    app = session.scalar(select(OpeningApplication).where(OpeningApplication.application_no == application_no))
    if app is None:
        raise NotFound(f"opening application {application_no} not found")
    if app.state != "in_review":
        raise Conflict(f"application {application_no} is {app.state}, not waiting for review")
    return app


def _ledger(session: Session, app: OpeningApplication, decision: str, reviewer_id: int, note: str) -> None:
    append(session, "opening.reviewed", f"customer:{app.customer_id}", {
        "application_no": app.application_no, "decision": decision, "reviewer_id": reviewer_id,
        "reasons": [r["code"] for r in app.review_reasons or []], "note": note})


def approve(session: Session, application_no: str, *, reviewer_id: int, note: str = "") -> OpeningApplication:
    """The reviewer cleared every reason: issue the account (caller commits)."""
    app = _waiting(session, application_no)
    app.reviewer_id, app.reviewed_at, app.review_note = reviewer_id, utcnow(), note.strip() or None
    _ledger(session, app, "approved", reviewer_id, note.strip())
    issued = issue_account(session, app)
    if issued.state != "opened":  # 中国结算 refused or failed again: nothing is approved
        why = next((r["text"] for r in issued.review_reasons if r["code"] == "csdc_failed"), "")
        raise Conflict(f"{why}。申请仍在审核队列中，账户未开立，请稍后再审批。")
    return issued


def reject(session: Session, application_no: str, *, reviewer_id: int, reason: str) -> OpeningApplication:
    """Refuse the application with the reason the applicant reads (Chinese, required)."""
    reason = reason.strip()
    if len(reason) < 4:
        raise ValidationFailed("a rejection needs the reason the applicant will read (at least 4 characters)")
    app = _waiting(session, application_no)
    app.reviewer_id, app.reviewed_at, app.review_note, app.state = reviewer_id, utcnow(), reason, "rejected"
    if app.customer_id is not None:
        customers.set_status(session, app.customer_id, "rejected")
    _ledger(session, app, "rejected", reviewer_id, reason)
    session.flush()
    return app
