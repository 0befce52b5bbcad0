"""Engagement's scheduled jobs: the post-close daily reports, the nightly leads for managers,
the morning greetings and the intraday limit-down tasks (``core/data/schedule.yaml``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from brokercare.core.runs import RunContext
from brokercare.engagement import (
    commentary,
    leads,
    service,
    tiers,
    triggers,
    valuation_alerts,
    watch,
)

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
    limit-down, from the alerts and from the quotes (whatever the customer's alert settings;
    idempotent: each run looks back over the last half hour)."""
    with ctx.session() as session:
        return {"tasks": triggers.limit_down_tasks(session, ctx.now - LIMIT_DOWN_LOOKBACK, now=ctx.now)}


JOBS = {"daily_reports": daily_reports, "raise_leads": raise_leads, "greetings": greetings,
        "limit_down_tasks": limit_down_tasks}


def tier_services(ctx: RunContext) -> dict:
    """The VIP 1+N teams kept in step with the tiers, and the potential tier's review task of the
    quarter (idempotent: one per customer and quarter; a customer who joins the tier mid-quarter
    gets theirs the next evening)."""
    with ctx.session() as session:
        teams = tiers.assign_teams(session, ctx.day)
        reviews = tiers.raise_quarterly_reviews(session, ctx.day)
    return {**teams, "reviews": reviews}


def monthly_commentary(ctx: RunContext) -> dict:
    """Last month's post-investment commentary (mass tier) and this month's education links (long
    tail), guarded, capped, once per customer and month."""
    with ctx.session() as session:
        notes = commentary.send_monthly_commentary(session, ctx.day)
        education = commentary.send_education(session, ctx.day)
    return {"commentary": notes.queued, "commentary_capped": notes.capped, "blocked": notes.blocked,
            "no_holdings": notes.skipped, "education": education.queued, "education_capped": education.capped}


def watch_goals(ctx: RunContext) -> dict:
    """Every active goal re-projected from actual holdings, its package's drift measured; the
    customer and the manager told once when either goes wrong."""
    with ctx.session() as session:
        w = watch.watch_goals(session, ctx.day)
    return {"goals": w.goals, "off_track": w.off_track, "drifted": w.drifted, "notified": w.notified,
            "capped": w.capped, "tasks": w.tasks, "skipped": w.skipped, "reused": w.reused,
            "reached": w.reached}


def valuation_warnings(ctx: RunContext) -> dict:
    """Holdings of dear indices flagged to the customers whose risk level it concerns; a warning on
    the run when the index valuation data is too old to use."""
    with ctx.session() as session:
        r = valuation_alerts.send_valuation_warnings(session, ctx.day)
    if r.stale:
        ctx.warn(r.stale)  # the run's record and the operator log: stale data must not pass as "nobody dear"
    return {"dear": ",".join(r.dear), "warned": r.warned, "capped": r.capped, "blocked": r.blocked, "held": r.held,
            "stale_data": int(r.stale is not None)}


JOBS.update({"tier_services": tier_services, "monthly_commentary": monthly_commentary, "watch_goals": watch_goals,
             "valuation_warnings": valuation_warnings})
