"""The relationship the quality domain records for the security policy (:mod:`brokercare.security.access`
discovers ``PROVIDERS``): a team lead reaches a customer while a conversation of theirs, drawn
for the lead's quality review, waits for its review. The review closes it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.quality.models import ConversationReview, ReviewSample
from brokercare.security.access import QUALITY_REVIEW, Provider


def _reviewing(session: Session, staff_id: int, customer_id: int) -> str | None:
    reviewed = select(ConversationReview.id).where(ConversationReview.conversation_id == ReviewSample.conversation_id)
    sample_id = session.scalar(select(ReviewSample.id).where(
        ReviewSample.lead_id == staff_id, ReviewSample.customer_id == customer_id, ~reviewed.exists()).limit(1))
    return None if sample_id is None else f"review_sample:{sample_id}"


PROVIDERS = (Provider(QUALITY_REVIEW, frozenset({"team_lead"}), _reviewing),)
