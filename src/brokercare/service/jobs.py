"""The service hub's scheduled jobs (``core/data/schedule.yaml``; docs/jobs.md)."""

from __future__ import annotations

from datetime import date

from brokercare.core.runs import RunContext
from brokercare.core.settings import get_settings
from brokercare.service import service as conversations
from brokercare.service import sla
from brokercare.service.reports import write_feedback_report

#: An AI-only conversation with no message for this long is closed (and the customer asked for CSAT).
IDLE_MINUTES = 30


def sla_check(ctx: RunContext) -> dict:
    """Warn owners before SLA deadlines; mark breaches and escalate them to team leads."""
    with ctx.session() as session:
        result = sla.run_sla_check(session, ctx.now)
    return {"warned": result.warned, "breached": result.breached, "escalated": result.escalated}


def route_stranded(ctx: RunContext) -> dict:
    """Route customer messages stored but never routed (a process died between the two)."""
    with ctx.session() as session:
        return {"routed": conversations.route_stranded(session, now=ctx.now)}


def close_idle_conversations(ctx: RunContext) -> dict:
    """Close AI-only conversations the customer left; each closed one asks for CSAT."""
    with ctx.session() as session:
        closed = conversations.close_idle_conversations(session, idle_minutes=IDLE_MINUTES, now=ctx.now)
    return {"closed": closed}


def previous_quarter(day: date) -> str:
    q = (day.month - 1) // 3  # 0 for January–March: the previous quarter is last year's Q4
    return f"{day.year - 1}Q4" if q == 0 else f"{day.year}Q{q}"


def feedback_report(ctx: RunContext) -> dict:
    """The previous quarter's customer-feedback report, as Markdown and HTML in the data dir."""
    quarter = previous_quarter(ctx.day)
    out = get_settings().data_dir / "reports" / "service"
    with ctx.session() as session:
        md, html = write_feedback_report(session, quarter, out)
    return {"quarter": quarter, "markdown": str(md), "html": str(html)}


JOBS = {
    "sla_check": sla_check,
    "route_stranded": route_stranded,
    "close_idle_conversations": close_idle_conversations,
    "feedback_report": feedback_report,
}
