"""Agents' scorecards (seed 3.2): volume, first response, resolution, CSAT, reopen rate and the
quality score of the conversations their team lead sampled and reviewed.

A scorecard is seen by the agent, the agent's team lead and admins. A team lead samples closed,
human-handled conversations of the team's agents at random (never one already reviewed) and fills
in the review form: each criterion scored 1–5, the total out of 100.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brokercare.quality.models import ConversationReview
from brokercare.quality.service import kpis
from brokercare.security.policy import Principal
from brokercare.service import service as hub

#: The review form: criterion, what the lead judges.
CRITERIA = {"greeting": "礼貌与规范用语", "understanding": "准确理解客户问题", "accuracy": "解答准确完整",
            "compliance": "合规与风险提示", "efficiency": "解决效率"}
SCORECARD = ("conversations", "first_response_median_s", "tickets_resolved", "resolution_median_h",
             "reopen_rate", "csat_average", "csat_responses")


def team_lead_of(session: Session, agent_id: int) -> int | None:
    return hub.agent_profile(session, agent_id).team_lead_id


def may_see(session: Session, viewer: Principal, agent_id: int) -> bool:
    """The agent, the agent's team lead, and admins."""
    return viewer.role == "admin" or viewer.id == agent_id or viewer.id == team_lead_of(session, agent_id)


def sample_for_review(session: Session, lead: Principal, start: datetime, end: datetime, *, n: int = 5,
                      seed: int | None = None) -> list[int]:
    """Up to ``n`` closed conversations of the lead's team (any team for an admin) in the period,
    handled by a person and not reviewed yet, drawn at random."""
    if lead.role not in ("team_lead", "admin"):
        raise PermissionDenied("only team leads and admins sample conversations for review")
    if not 1 <= n <= 100:
        raise ValidationFailed("a sample is 1 to 100 conversations")
    reviewed = set(session.scalars(select(ConversationReview.conversation_id)))
    facts = hub.conversation_facts(session.connection(), start, end).filter(
        pl.col("closed_at").is_not_null() & pl.col("agent_id").is_not_null()
        & ~pl.col("conversation_id").is_in(list(reviewed)))
    if lead.role != "admin":
        facts = facts.filter(pl.col("team_lead_id") == lead.id)
    return sorted(facts.sample(min(n, facts.height), seed=seed)["conversation_id"].to_list())


def record_review(session: Session, reviewer: Principal, conversation_id: int, scores: dict[str, int], *,
                  comment: str | None = None, now: datetime | None = None) -> ConversationReview:
    """The lead's filled-in review form for one conversation (flushed; the caller commits)."""
    if set(scores) != set(CRITERIA) or not all(isinstance(v, int) and 1 <= v <= 5 for v in scores.values()):
        raise ValidationFailed(f"score every criterion of the form 1 to 5: {', '.join(CRITERIA)}")
    conv = hub.get_conversation(session, conversation_id)
    if conv.assigned_agent_id is None:
        raise ValidationFailed("the AI alone handled this conversation: there is no agent to review")
    if reviewer.role != "admin" and reviewer.id != team_lead_of(session, conv.assigned_agent_id):
        raise PermissionDenied("only the agent's team lead or an admin reviews the agent's conversations")
    review = ConversationReview(conversation_id=conversation_id, agent_id=conv.assigned_agent_id,
                                reviewer_id=reviewer.id, scores=dict(scores),
                                total=round(100 * sum(scores.values()) / (5 * len(CRITERIA))),
                                comment=(comment or "").strip()[:2000] or None, reviewed_at=now or utcnow())
    try:
        with session.begin_nested():
            session.add(review)
    except IntegrityError:
        raise Conflict(f"conversation {conversation_id} has been reviewed already") from None
    return review


def review_scores(session: Session, start: datetime, end: datetime) -> dict[int, tuple[int, float]]:
    """Per agent: how many reviews the period holds and their mean total."""
    return {agent: (n, float(avg)) for agent, n, avg in session.execute(
        select(ConversationReview.agent_id, func.count(), func.avg(ConversationReview.total))
        .where(ConversationReview.reviewed_at >= start, ConversationReview.reviewed_at < end)
        .group_by(ConversationReview.agent_id))}


def agent_scorecard(session: Session, viewer: Principal, agent_id: int, start: datetime,
                    end: datetime) -> dict:
    """One agent's figures of ``[start, end)`` (the KPI definitions, sliced by agent) and the
    reviews of the period; refused to anyone but the agent, their lead and admins."""
    if not may_see(session, viewer, agent_id):
        raise PermissionDenied("a scorecard is seen by the agent, their team lead and admins")
    frame = kpis(session, start, end).slices["agent"].filter(pl.col("key") == str(agent_id))
    if frame.is_empty():
        raise NotFound(f"agent {agent_id} handled nothing in the period")
    row = frame.row(0, named=True)
    count, average = review_scores(session, start, end).get(agent_id, (0, None))
    return {"agent_id": agent_id, "name": row["label"], **{k: row[k] for k in SCORECARD},
            "reviews": count, "review_score": average}
