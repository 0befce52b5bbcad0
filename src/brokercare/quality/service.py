"""The quality domain's public face: the service-quality KPIs of a period, sliced and labelled.

:func:`kpis` reads the hub's, the outbox's and the customer base's batch reads (their services,
never their tables), computes every figure with :mod:`brokercare.quality.kpis` and labels each
slice in Chinese for the workbench page and the monthly report, which both call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from brokercare.assistant.service import describe as intent_name
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import ValidationFailed
from brokercare.core.journeys import JOURNEYS
from brokercare.customers import service as customers
from brokercare.engagement.service import need_labels
from brokercare.outbox import service as outbox
from brokercare.quality import journeys
from brokercare.quality import kpis as compute
from brokercare.quality.definitions import (
    ALERT_ORIGIN,
    CHANNEL_LABELS,
    DIMENSIONS,
    MISSING_LABELS,
    RECONTACT_WINDOW,
    REPEAT_WINDOW,
    TIER_LABELS,
)
from brokercare.quality.definitions import METRICS as METRICS
from brokercare.quality.definitions import REVIEW_CRITERIA as REVIEW_CRITERIA
from brokercare.security import service as security
from brokercare.security.policy import Principal
from brokercare.service import service as hub

#: Conversations that close this long after the period are judged without later re-contacts.
CLOSE_LAG = timedelta(days=7)


@dataclass(frozen=True)
class KpiReport:
    start: datetime  # Beijing time, inclusive
    end: datetime  # exclusive
    as_of: datetime
    overall: dict[str, float | int | None]
    slices: dict[str, pl.DataFrame]  # dimension -> key, label and the figures, one row per key
    sla_open_at_risk: int

    @property
    def days(self) -> list[str]:
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]

    def series(self, metric: str) -> list[float | int | None]:
        """The metric per day of the period (None on a day without data)."""
        by_day = dict(self.slices["day"].select("key", metric).iter_rows())
        return [by_day.get(d) for d in self.days]


def month_window(month: str) -> tuple[datetime, datetime]:
    """``2026-11`` → [2026-11-01 00:00, 2026-12-01 00:00) Beijing time."""
    m = re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", month.strip())
    if m is None:
        raise ValidationFailed(f"month must look like 2026-11, got {month!r}")
    first = date(int(m[1]), int(m[2]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (datetime.combine(first, datetime.min.time(), SHANGHAI),
            datetime.combine(following, datetime.min.time(), SHANGHAI))


def read_frames(conn: Connection, start: datetime, end: datetime) -> compute.Frames:
    """Every batch read the KPIs of ``[start, end)`` need (conversations with the margins their
    repeat and re-contact windows look into)."""
    return compute.Frames(
        conversations=hub.conversation_facts(conn, start, end),
        neighbours=neighbours(conn, start, end),
        tickets=hub.ticket_facts(conn, start, end),
        sla_clocks=hub.sla_clock_facts(conn, start, end),
        csat=hub.csat_facts(conn, start, end),
        complaint_feedback=hub.complaint_feedback_facts(conn, start, end),
        alerts=outbox.state_counts(conn, origin=ALERT_ORIGIN, start=start, end=end),
        tiers=customers.tiers_frame(conn),
    )


def neighbours(conn: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Conversation starts the repeat rule (7 days before) and the re-contact rule (after the
    period) look at."""
    return pl.concat([hub.conversation_starts(conn, start - REPEAT_WINDOW, start),
                      hub.conversation_starts(conn, end, end + CLOSE_LAG + RECONTACT_WINDOW)])


def kpis(session: Session, start: datetime, end: datetime, *, as_of: datetime | None = None) -> KpiReport:
    """Every KPI of ``[start, end)``, overall and per channel, tier, intent, team, agent and day."""
    if end <= start:
        raise ValidationFailed("the period's end must come after its start")
    as_of = as_of or utcnow()
    conn = session.connection()
    frames = read_frames(conn, start, end)
    whole, *sliced = compute.compute(frames, start, end, as_of, [None, *DIMENSIONS])
    overall = whole.row(0, named=True)
    slices = dict(zip(DIMENSIONS, sliced, strict=True))
    names = _staff_names(session, slices)
    labelled = {dim: frame.with_columns(label=pl.Series([label_of(dim, k, names) for k in frame["key"]],
                                                        dtype=pl.String)).sort("key", nulls_last=True)
                for dim, frame in slices.items()}
    return KpiReport(start.astimezone(SHANGHAI), end.astimezone(SHANGHAI), as_of, overall, labelled,
                     hub.sla_clocks_at_risk(conn, as_of))


def month_kpis(session: Session, month: str, *, as_of: datetime | None = None) -> KpiReport:
    start, end = month_window(month)
    return kpis(session, start, end, as_of=as_of)


def recent_kpis(session: Session, *, days: int = 14, now: datetime | None = None) -> KpiReport:
    """The last ``days`` Beijing days up to and including today (the workbench page)."""
    now = now or utcnow()
    today = now.astimezone(SHANGHAI).date()
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), SHANGHAI)
    return kpis(session, end - timedelta(days=days), end, as_of=now)


def funnels(session: Session, start: datetime, end: datetime) -> list[journeys.Funnel]:
    """Every journey's funnel of ``[start, end)`` beside the period of the same length before it."""
    if end <= start:
        raise ValidationFailed("the period's end must come after its start")
    conn = session.connection()
    before = start - (end - start)
    tiers = customers.tiers_frame(conn)
    conversations, around = hub.conversation_facts(conn, before, end), neighbours(conn, before, end)
    out = []
    for journey in JOURNEYS:
        if journey == "chat_to_resolution":
            now, prev = (journeys.chat_instances(compute.conversation_rows(conversations, around, *span))
                         for span in ((start, end), (before, start)))
        else:
            now, prev = (journeys.instances(conn, journey, *span) for span in ((start, end), (before, start)))
        out.append(journeys.funnel(now, prev, journey, tiers))
    return out


def display(metric: str, value: float | int | None) -> str:
    """A figure as staff read it: rates in per cent, response times in minutes, CSAT out of 5."""
    if value is None:
        return "—"
    unit = METRICS[metric].unit
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "分钟":
        return f"{value / 60:.1f} 分钟"
    if unit == "小时":
        return f"{value:.1f} 小时"
    if unit == "分":
        return f"{value:.2f} / 5"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _scaled(values: list, factor: float, digits: int) -> list[float | None]:
    return [None if v is None else round(v * factor, digits) for v in values]


def daily_series(report: KpiReport) -> dict[str, list]:
    """The per-day figures the workbench charts draw (percentages, minutes, hours)."""
    return {"days": report.days, "conversations": report.series("conversations"),
            "ai_containment_pct": _scaled(report.series("ai_containment_rate"), 100, 1),
            "first_response_median_min": _scaled(report.series("first_response_median_s"), 1 / 60, 1),
            "resolution_median_h": _scaled(report.series("resolution_median_h"), 1, 1),
            "sla_breaches": report.series("sla_breaches"),
            "csat_average": _scaled(report.series("csat_average"), 1, 2)}


def _staff_names(session: Session, slices: dict[str, pl.DataFrame]) -> dict[int, str]:
    ids = {int(k) for dim in ("team", "agent") for k in slices[dim]["key"].drop_nulls()}
    return {uid: u.display_name or u.username for uid, u in security.users_by_id(session, ids).items()}


def label_of(dim: str, key: str | None, staff: dict[int, str]) -> str:
    """What staff read for a slice key (no codes on screens)."""
    if key is None:
        return MISSING_LABELS[dim]
    if dim == "channel":
        return CHANNEL_LABELS.get(key, "其他渠道")
    if dim == "tier":
        return TIER_LABELS.get(key, "其他层级")
    if dim == "intent":
        name = intent_name(key)
        return "其他业务" if name == key else name
    if dim == "team":
        return f"{staff.get(int(key), '未知组长')}组"
    if dim == "agent":
        return staff.get(int(key), "已离职员工")
    day = date.fromisoformat(key)
    return f"{day.month}月{day.day}日"


def top_churn_risks(session: Session, *, manager_id: int | None, limit: int = 20) -> list:
    """The latest night's riskiest customers with the reasons (one manager's, or everyone's)."""
    from brokercare.quality import churn_model  # scikit-learn loads only where churn is used

    return churn_model.top_risks(session, manager_id=manager_id, limit=limit)


def manager_scorecard(session: Session, viewer: Principal, manager_id: int, start: datetime, end: datetime) -> dict:
    """A customer manager's scorecard of ``[start, end)`` (quality/managers.py)."""
    from brokercare.quality import managers  # it reads this module's scorecard access

    return managers.manager_scorecard(session, viewer, manager_id, start, end)


def lead_conversion(session: Session, start: datetime, end: datetime) -> dict[str, list[dict]]:
    """Proactive lead conversion of ``[start, end)`` by need and by manager, each row named in
    words (the need's label, the manager's name) for the KPI page."""
    from brokercare.quality import managers  # it reads this module's scorecard access

    found = managers.lead_conversion(session, start, end)
    needs = need_labels()
    ids = [m for m in found["manager"]["manager_id"].to_list() if m is not None]
    staff = {uid: u.display_name or u.username for uid, u in security.users_by_id(session, ids).items()}
    return {"need": [{**r, "label": needs.get(r["need"], "其他需求")} for r in found["need"].to_dicts()],
            "manager": [{**r, "label": staff.get(r["manager_id"], "未分配客户经理")} for r in found["manager"].to_dicts()]}


def visible_scorecards(session: Session, viewer: Principal, start: datetime, end: datetime) -> list[dict]:
    """The agents' scorecards of ``[start, end)`` the viewer may see (quality/scorecards.py)."""
    from brokercare.quality import scorecards  # it computes its figures with this module's kpis

    return scorecards.visible_scorecards(session, viewer, start, end)


def draw_review_sample(session: Session, lead: Principal, start: datetime, end: datetime, *, n: int) -> list[int]:
    """Closed conversations of the lead's team drawn for review (flushed; the caller commits)."""
    from brokercare.quality import scorecards  # it computes its figures with this module's kpis

    return scorecards.sample_for_review(session, lead, start, end, n=n)


def waiting_reviews(session: Session, lead: Principal) -> list:
    """The lead's drawn conversations not reviewed yet."""
    from brokercare.quality import scorecards  # it computes its figures with this module's kpis

    return scorecards.waiting_reviews(session, lead)


def review_conversation(session: Session, reviewer: Principal, conversation_id: int, scores: dict[str, int], *,
                        comment: str | None = None):
    """The review form filled in for one conversation (flushed; the caller commits)."""
    from brokercare.quality import scorecards  # it computes its figures with this module's kpis

    return scorecards.record_review(session, reviewer, conversation_id, scores, comment=comment)
