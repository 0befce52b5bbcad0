"""Engagement's scheduled job: the post-close daily report of every customer who asked for it."""

from __future__ import annotations

import logging

from brokercare.core.runs import RunContext
from brokercare.engagement import service

log = logging.getLogger(__name__)


def daily_reports(ctx: RunContext) -> dict:
    """Each opted-in customer's report of the day stored, and an app push with its link queued
    (one per customer and day, however often the job runs); progress by partition in the log."""
    def progress(done: int, total: int) -> None:
        log.info("engagement.daily_reports %s: partition %d of %d done", ctx.day, done, total)

    night = service.publish_daily_reports(ctx.engine, ctx.day, progress=progress)
    return {"reports": night.reports, "pushes": night.pushes, "partitions": night.partitions}


JOBS = {"daily_reports": daily_reports}
