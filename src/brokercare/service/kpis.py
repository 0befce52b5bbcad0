"""Service-quality KPIs computed from the live hub data (SPEC 9): first response time, resolution
time, SLA breaches, AI containment rate and CSAT, overall and per day.

Aggregation happens in Python over the rows of the window: a day of a broker's hub is tens of
thousands of rows at most, and the same code then runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.service.models import Conversation, CsatSurvey, RoutingDecision, SlaClock, Ticket


@dataclass
class DayKpis:
    day: str
    conversations: int = 0
    ai_contained: int = 0
    handed_off: int = 0
    first_response_s: list[float] = field(default_factory=list)
    resolution_h: list[float] = field(default_factory=list)
    sla_breaches: int = 0
    csat_scores: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Kpis:
    days: list[str]
    conversations: int
    ai_containment_rate: float | None  # share of conversations never handed to a person
    first_response_median_s: float | None
    first_response_p90_s: float | None
    resolution_median_h: float | None
    sla_breaches: int
    sla_open_at_risk: int
    csat_average: float | None  # 1..5
    csat_responses: int
    csat_response_rate: float | None
    series: dict[str, list[float | int | None]]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _day(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).date().isoformat()


def service_kpis(session: Session, *, days: int = 14, now: datetime | None = None) -> Kpis:
    now = now or utcnow()
    since = now - timedelta(days=days)
    labels = [(now - timedelta(days=days - 1 - i)).astimezone(SHANGHAI).date().isoformat() for i in range(days)]
    per: dict[str, DayKpis] = defaultdict(lambda: DayKpis(""))

    handed = set(session.scalars(select(RoutingDecision.conversation_id).where(
        RoutingDecision.decided_at >= since, RoutingDecision.outcome == "human")))
    for conv in session.execute(select(Conversation.id, Conversation.started_at, Conversation.waiting_since,
                                       Conversation.first_human_response_at)
                                .where(Conversation.started_at >= since)):
        d = per[_day(conv.started_at)]
        d.conversations += 1
        if conv.id in handed or conv.waiting_since is not None:
            d.handed_off += 1
        else:
            d.ai_contained += 1
        if conv.waiting_since and conv.first_human_response_at:
            d.first_response_s.append((conv.first_human_response_at - conv.waiting_since).total_seconds())

    for t in session.execute(select(Ticket.created_at, Ticket.resolved_at).where(
            Ticket.resolved_at.is_not(None), Ticket.resolved_at >= since)):
        per[_day(t.resolved_at)].resolution_h.append((t.resolved_at - t.created_at).total_seconds() / 3600)

    for (breached_at,) in session.execute(select(SlaClock.breached_at).where(SlaClock.breached_at >= since)):
        per[_day(breached_at)].sla_breaches += 1
    at_risk = len(session.scalars(select(SlaClock.id).where(
        SlaClock.met_at.is_(None), SlaClock.breached_at.is_(None), SlaClock.warn_at <= now)).all())

    sent = responded = 0
    for s in session.execute(select(CsatSurvey.sent_at, CsatSurvey.score, CsatSurvey.responded_at)
                             .where(CsatSurvey.sent_at >= since)):
        sent += 1
        if s.score is not None:
            responded += 1
            per[_day(s.responded_at or s.sent_at)].csat_scores.append(s.score)

    rows = [per[label] for label in labels]
    convs = sum(r.conversations for r in rows)
    contained = sum(r.ai_contained for r in rows)
    frt = [v for r in rows for v in r.first_response_s]
    res = [v for r in rows for v in r.resolution_h]
    scores = [v for r in rows for v in r.csat_scores]
    return Kpis(
        days=labels,
        conversations=convs,
        ai_containment_rate=contained / convs if convs else None,
        first_response_median_s=median(frt) if frt else None,
        first_response_p90_s=_pct(frt, 0.9),
        resolution_median_h=median(res) if res else None,
        sla_breaches=sum(r.sla_breaches for r in rows),
        sla_open_at_risk=at_risk,
        csat_average=sum(scores) / len(scores) if scores else None,
        csat_responses=responded,
        csat_response_rate=responded / sent if sent else None,
        series={
            "conversations": [r.conversations for r in rows],
            "ai_containment_pct": [round(100 * r.ai_contained / r.conversations, 1) if r.conversations else None for r in rows],
            "first_response_median_min": [round(median(r.first_response_s) / 60, 1) if r.first_response_s else None for r in rows],
            "resolution_median_h": [round(median(r.resolution_h), 1) if r.resolution_h else None for r in rows],
            "sla_breaches": [r.sla_breaches for r in rows],
            "csat_average": [round(sum(r.csat_scores) / len(r.csat_scores), 2) if r.csat_scores else None for r in rows],
        },
    )
