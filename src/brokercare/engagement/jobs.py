"""Engagement's scheduled jobs: the post-close daily reports, the nightly leads for managers,
the morning greetings and the intraday limit-down tasks (``core/data/schedule.yaml``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from brokercare.core.runs import RunContext
from brokercare.engagement import leads, service, triggers

log = logging.getLogger(__name__)

#: How far back the limit-down job looks each minute (alerts a late or missed run left behind).
LIMIT_DOWN_LOOKBACK = timedelta(minutes=30)


def daily_reports(ctx: RunContext) -> dict:
    """Each opted-in customer's report of the day stored, and an app push with its link queued
    (one per customer and day, however often the job runs); progress by partition in the log."""
    def progress(done: int, total: int) -> None:
        log.info("engagement.daily_reports %s: partition %d of %d done", ctx.day, done, total)

    night = service.publish_daily_reports(ctx.engine, ctx.day, progress=progress)
    return {"reports": night.reports, "pushes": night.pushes, "partitions": night.partitions}


def raise_leads(ctx: RunContext) -> dict:
    """The night's leads from the profiles, outside each need's cool-down and under the cap."""
    with ctx.session() as session:
        raised = leads.raise_leads(session, ctx.day)
    return {"leads": raised.leads, "cooling": raised.cooling, "capped": raised.capped}


def greetings(ctx: RunContext) -> dict:
    """Birthday, anniversary and festival greetings of the day, queued in the outbox."""
    with ctx.session() as session:
        sent = triggers.send_greetings(session, ctx.day)
    return {"queued": sent.queued, "capped": sent.capped}


def limit_down_tasks(ctx: RunContext) -> dict:
    """Emergency tasks for the managers of VIP and potential-tier customers whose holding hit
    limit-down (idempotent: each run looks back over the last half hour)."""
    with ctx.session() as session:
        return {"tasks": triggers.limit_down_tasks(session, ctx.now - LIMIT_DOWN_LOOKBACK)}


JOBS = {"daily_reports": daily_reports, "raise_leads": raise_leads, "greetings": greetings,
        "limit_down_tasks": limit_down_tasks}
