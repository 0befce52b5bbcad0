"""Batch reads of the hub's records for the quality domain's KPIs (docs/quality.md).

One narrow row per conversation, ticket, SLA clock, CSAT survey or complaint feedback of a time
window, straight from the driver into a Polars frame (:func:`brokercare.core.bulkread.read_frame`):
the quality domain owns the KPI definitions and aggregates these frames column-wise; the hub keeps
its tables private. Medians and P90s need the distribution, which portable SQL (SQLite has no
``percentile_cont``) cannot give, so the reads stop at one row per subject, with the joins inside
the hub (a ticket's assignee's team, a survey's intent) already done in SQL.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import BigInteger, Connection, Select, and_, cast, func, literal, or_, select

from brokercare.core.bulkread import read_frame
from brokercare.service.models import (
    AgentProfile,
    Conversation,
    CsatSurvey,
    Feedback,
    SlaClock,
    Ticket,
)

TIME = pl.Datetime("us", "UTC")


def _frame(conn: Connection, stmt: Select, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """:func:`read_frame`, with PostgreSQL's timestamps sent as epoch microseconds: psycopg builds
    a Python datetime per value otherwise, the largest cost of a month's read (bench/RESULTS.md)."""
    if conn.dialect.name != "postgresql":
        return read_frame(conn, stmt, schema)
    stamps = [name for name, dt in schema.items() if isinstance(dt, pl.Datetime)]
    sub = stmt.subquery()
    cols = [cast(func.round(func.extract("epoch", col) * 1_000_000), BigInteger) if name in stamps else col
            for col, name in zip(sub.c, schema, strict=True)]
    frame = read_frame(conn, select(*cols), {n: pl.Int64 if n in stamps else dt for n, dt in schema.items()})
    return frame.with_columns(pl.col(stamps).cast(TIME)) if stamps else frame


def conversation_facts(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Conversations started in ``[start, end)``: who, where, which intent, who handled it, and
    the moments of hand-off, first human reply and close. ``human``: a person was involved (queued
    for or assigned to staff); ``has_ticket``: a ticket was opened from it."""
    team = AgentProfile
    has_ticket = select(Ticket.id).where(Ticket.conversation_id == Conversation.id).exists()
    stmt = (select(Conversation.id, Conversation.contact_id, Conversation.customer_id, Conversation.channel,
                   Conversation.last_intent, Conversation.assigned_agent_id, team.team_lead_id,
                   Conversation.started_at, Conversation.waiting_since,
                   Conversation.first_human_response_at, Conversation.closed_at,
                   or_(Conversation.waiting_since.is_not(None),
                       Conversation.assigned_agent_id.is_not(None)),
                   has_ticket)
            .select_from(Conversation)
            .outerjoin(team, team.user_id == Conversation.assigned_agent_id)
            .where(Conversation.started_at >= start, Conversation.started_at < end))
    return _frame(conn, stmt, {
        "conversation_id": pl.Int64, "contact_id": pl.Int64, "customer_id": pl.Int64,
        "channel": pl.String, "intent": pl.String, "agent_id": pl.Int64, "team_lead_id": pl.Int64,
        "started_at": TIME, "waiting_since": TIME, "first_human_response_at": TIME,
        "closed_at": TIME, "human": pl.Boolean, "has_ticket": pl.Boolean})


def conversation_starts(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Only who started a conversation when, in ``[start, end)``: the neighbours a period's repeat
    and re-contact rules look at just outside it."""
    stmt = (select(Conversation.id, Conversation.contact_id, Conversation.started_at)
            .where(Conversation.started_at >= start, Conversation.started_at < end))
    return _frame(conn, stmt, {"conversation_id": pl.Int64, "contact_id": pl.Int64, "started_at": TIME})


def ticket_facts(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Tickets created or resolved in ``[start, end)``, with the assignee's team."""
    stmt = (select(Ticket.id, Ticket.customer_id, Ticket.channel, Ticket.category, Ticket.source,
                   Ticket.priority, Ticket.assignee_id, AgentProfile.team_lead_id, Ticket.reopen_count,
                   Ticket.created_at, Ticket.resolved_at)
            .select_from(Ticket)
            .outerjoin(AgentProfile, AgentProfile.user_id == Ticket.assignee_id)
            .where(or_(and_(Ticket.created_at >= start, Ticket.created_at < end),
                       and_(Ticket.resolved_at >= start, Ticket.resolved_at < end))))
    return _frame(conn, stmt, {
        "ticket_id": pl.Int64, "customer_id": pl.Int64, "channel": pl.String, "intent": pl.String,
        "source": pl.String, "priority": pl.String, "agent_id": pl.Int64, "team_lead_id": pl.Int64,
        "reopen_count": pl.Int64, "created_at": TIME, "resolved_at": TIME})


def sla_clock_facts(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """SLA clocks due in ``[start, end)`` with the channel, intent, owner and customer of their
    subject (a ticket, or a conversation; feedback clocks carry their channel and customer)."""
    tk, conv, fb = Ticket, Conversation, Feedback
    of = {"ticket": tk, "conversation": conv, "feedback": fb}
    joins = {kind: and_(SlaClock.subject_kind == kind, table.id == SlaClock.subject_id)
             for kind, table in of.items()}
    owner = func.coalesce(tk.assignee_id, conv.assigned_agent_id, fb.answered_by_id)
    stmt = (select(SlaClock.id, SlaClock.subject_kind, SlaClock.metric, SlaClock.policy,
                   func.coalesce(tk.channel, conv.channel, fb.channel),
                   func.coalesce(tk.category, conv.last_intent, fb.category),
                   owner, AgentProfile.team_lead_id,
                   func.coalesce(tk.customer_id, conv.customer_id, fb.customer_id),
                   SlaClock.started_at, SlaClock.warn_at, SlaClock.due_at, SlaClock.met_at,
                   SlaClock.breached_at)
            .select_from(SlaClock)
            .outerjoin(tk, joins["ticket"]).outerjoin(conv, joins["conversation"])
            .outerjoin(fb, joins["feedback"])
            .outerjoin(AgentProfile, AgentProfile.user_id == owner)
            .where(SlaClock.due_at >= start, SlaClock.due_at < end))
    return _frame(conn, stmt, {
        "clock_id": pl.Int64, "subject_kind": pl.String, "metric": pl.String, "policy": pl.String,
        "channel": pl.String, "intent": pl.String, "agent_id": pl.Int64, "team_lead_id": pl.Int64,
        "customer_id": pl.Int64, "started_at": TIME, "warn_at": TIME, "due_at": TIME,
        "met_at": TIME, "breached_at": TIME})


def sla_clocks_at_risk(conn: Connection, now: datetime) -> int:
    """Open clocks past their warning time and not breached yet: what needs a person now."""
    return conn.execute(select(func.count()).select_from(SlaClock).where(
        SlaClock.met_at.is_(None), SlaClock.breached_at.is_(None), SlaClock.warn_at <= now,
        SlaClock.due_at > now)).scalar_one()


def csat_facts(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """CSAT surveys sent in ``[start, end)`` with the answer, the agent and their team, and the
    intent of the conversation or ticket surveyed."""
    conv, tk = Conversation, Ticket
    stmt = (select(CsatSurvey.id, CsatSurvey.subject_kind, CsatSurvey.customer_id, CsatSurvey.channel,
                   func.coalesce(conv.last_intent, tk.category), CsatSurvey.agent_id,
                   AgentProfile.team_lead_id, CsatSurvey.sent_at, CsatSurvey.score,
                   CsatSurvey.responded_at)
            .select_from(CsatSurvey)
            .outerjoin(conv, and_(CsatSurvey.subject_kind == literal("conversation"),
                                  conv.id == CsatSurvey.subject_id))
            .outerjoin(tk, and_(CsatSurvey.subject_kind == literal("ticket"), tk.id == CsatSurvey.subject_id))
            .outerjoin(AgentProfile, AgentProfile.user_id == CsatSurvey.agent_id)
            .where(CsatSurvey.sent_at >= start, CsatSurvey.sent_at < end))
    return _frame(conn, stmt, {
        "survey_id": pl.Int64, "subject_kind": pl.String, "customer_id": pl.Int64, "channel": pl.String,
        "intent": pl.String, "agent_id": pl.Int64, "team_lead_id": pl.Int64, "sent_at": TIME,
        "score": pl.Int64, "responded_at": TIME})


def complaint_feedback_facts(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Complaints entered as feedback in ``[start, end)`` that did not become a ticket (those
    that did are counted once, as their ticket)."""
    stmt = (select(Feedback.id, Feedback.customer_id, Feedback.channel, Feedback.category,
                   Feedback.created_at)
            .where(Feedback.kind == "complaint", Feedback.ticket_id.is_(None),
                   Feedback.created_at >= start, Feedback.created_at < end))
    return _frame(conn, stmt, {
        "feedback_id": pl.Int64, "customer_id": pl.Int64, "channel": pl.String, "intent": pl.String,
        "created_at": TIME})


def complaint_texts(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """What customers wrote in the period's complaints (complaint tickets and complaint feedback
    that did not become a ticket), for finding their themes."""
    tickets = (select(literal("ticket"), Ticket.id, Ticket.channel, Ticket.subject + literal(" ") + Ticket.description)
               .where(Ticket.created_at >= start, Ticket.created_at < end,
                      or_(Ticket.category == "complaint", Ticket.source == "complaint")))
    feedback = (select(literal("feedback"), Feedback.id, Feedback.channel, Feedback.text)
                .where(Feedback.kind == "complaint", Feedback.ticket_id.is_(None),
                       Feedback.created_at >= start, Feedback.created_at < end))
    return _frame(conn, tickets.union_all(feedback), {
        "source": pl.String, "id": pl.Int64, "channel": pl.String, "text": pl.String})


def suggestion_outcomes(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Suggestions accepted or shipped in the period (their last change fell in it): what changed
    because customers said so."""
    stmt = (select(Feedback.id, Feedback.text, Feedback.suggestion_status, Feedback.shipped_in, Feedback.updated_at)
            .where(Feedback.kind == "suggestion", Feedback.suggestion_status.in_(("accepted", "shipped")),
                   Feedback.updated_at >= start, Feedback.updated_at < end))
    return _frame(conn, stmt, {"feedback_id": pl.Int64, "text": pl.String, "status": pl.String,
                               "shipped_in": pl.String, "updated_at": TIME}).sort("updated_at")
