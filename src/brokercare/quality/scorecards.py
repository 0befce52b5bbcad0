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
from brokercare.quality.definitions import REVIEW_CRITERIA as CRITERIA
from brokercare.quality.models import ConversationReview, ReviewSample
from brokercare.quality.service import kpis
from brokercare.security.policy import Principal
from brokercare.service import service as hub

SCORECARD = ("conversations", "first_response_median_s", "tickets_resolved", "resolution_median_h",
             "reopen_rate", "csat_average", "csat_responses")


def team_lead_of(session: Session, agent_id: int) -> int | None:
    return hub.agent_profile(session, agent_id).team_lead_id


def may_see(session: Session, viewer: Principal, agent_id: int) -> bool:
    """The agent, the agent's team lead, and admins."""
    return viewer.role == "admin" or viewer.id == agent_id or viewer.id == team_lead_of(session, agent_id)


def sample_for_review(session: Session, lead: Principal, start: datetime, end: datetime, *, n: int = 5,
                      seed: int | None = None, now: datetime | None = None) -> list[int]:
    """Up to ``n`` closed conversations of the lead's team (any team for an admin) in the period,
    handled by a person, neither reviewed nor already drawn, drawn at random. The draw is kept
    (flushed; the caller commits): it is the lead's to-review list, and while a sample waits the
    lead may read its thread (:mod:`brokercare.quality.relationships`)."""
    if lead.role not in ("team_lead", "admin"):
        raise PermissionDenied("only team leads and admins sample conversations for review")
    if not 1 <= n <= 100:
        raise ValidationFailed("a sample is 1 to 100 conversations")
    taken = set(session.scalars(select(ConversationReview.conversation_id)))
    taken |= set(session.scalars(select(ReviewSample.conversation_id)))
    facts = hub.conversation_facts(session.connection(), start, end).filter(
        pl.col("closed_at").is_not_null() & pl.col("agent_id").is_not_null()
        & ~pl.col("conversation_id").is_in(list(taken)))
    if lead.role != "admin":
        facts = facts.filter(pl.col("team_lead_id") == lead.id)
    drawn = facts.sample(min(n, facts.height), seed=seed).sort("conversation_id")
    session.add_all([ReviewSample(conversation_id=row["conversation_id"], agent_id=row["agent_id"],
                                  customer_id=row["customer_id"], lead_id=lead.id, drawn_at=now or utcnow())
                     for row in drawn.iter_rows(named=True)])
    session.flush()
    return drawn["conversation_id"].to_list()


def waiting_reviews(session: Session, lead: Principal) -> list[ReviewSample]:
    """The lead's drawn conversations not reviewed yet, oldest draw first."""
    reviewed = select(ConversationReview.id).where(ConversationReview.conversation_id == ReviewSample.conversation_id)
    return list(session.scalars(select(ReviewSample).where(ReviewSample.lead_id == lead.id, ~reviewed.exists())
                                .order_by(ReviewSample.drawn_at, ReviewSample.conversation_id)))


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
                                comment=(comment or "").strip()[:2000] or None, reviewed_at=now or utcnow(),
                                conversation_started_at=conv.started_at)
    try:
        with session.begin_nested():
            session.add(review)
    except IntegrityError:
        raise Conflict(f"conversation {conversation_id} has been reviewed already") from None
    return review


def review_scores(session: Session, start: datetime, end: datetime) -> dict[int, tuple[int, float]]:
    """Per agent: how many reviews of the period's conversations there are and their mean total
    (a review recorded without its conversation's start counts on its own date)."""
    month_of = func.coalesce(ConversationReview.conversation_started_at, ConversationReview.reviewed_at)
    return {agent: (n, float(avg)) for agent, n, avg in session.execute(
        select(ConversationReview.agent_id, func.count(), func.avg(ConversationReview.total))
        .where(month_of >= start, month_of < end)
        .group_by(ConversationReview.agent_id))}


def _card(row: dict, reviews: dict[int, tuple[int, float]]) -> dict:
    agent_id = int(row["key"])
    count, average = reviews.get(agent_id, (0, None))
    return {"agent_id": agent_id, "name": row["label"], **{k: row[k] for k in SCORECARD},
            "reviews": count, "review_score": average}


def agent_scorecard(session: Session, viewer: Principal, agent_id: int, start: datetime,
                    end: datetime) -> dict:
    """One agent's figures of ``[start, end)`` (the KPI definitions, sliced by agent) and the
    reviews of the period; refused to anyone but the agent, their lead and admins."""
    if not may_see(session, viewer, agent_id):
        raise PermissionDenied("a scorecard is seen by the agent, their team lead and admins")
    frame = kpis(session, start, end).slices["agent"].filter(pl.col("key") == str(agent_id))
    if frame.is_empty():
        raise NotFound(f"agent {agent_id} handled nothing in the period")
    return _card(frame.row(0, named=True), review_scores(session, start, end))


def visible_scorecards(session: Session, viewer: Principal, start: datetime, end: datetime) -> list[dict]:
    """Every scorecard of ``[start, end)`` the viewer may see, from one KPI computation: an
    agent's own, a team lead's team's (and their own), every agent's for an admin; by name."""
    frame = kpis(session, start, end).slices["agent"].filter(pl.col("key").is_not_null())
    if viewer.role == "team_lead":
        frame = frame.filter(pl.col("key").is_in([str(i) for i in [viewer.id, *hub.team_of(session, viewer.id)]]))
    elif viewer.role != "admin":
        frame = frame.filter(pl.col("key") == str(viewer.id))
    reviews = review_scores(session, start, end)
    return sorted((_card(row, reviews) for row in frame.iter_rows(named=True)), key=lambda card: card["name"])
