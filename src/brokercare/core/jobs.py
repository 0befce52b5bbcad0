"""The kernel's own scheduled jobs: the calendar's coverage and the runs' history.

Like every domain's ``jobs.py``: ``JOBS`` maps a name (``core.<name>`` in the schedule) to a
function taking the run's context and returning counts for its record.
"""

from __future__ import annotations

from brokercare.core import calendar, runs
from brokercare.core.runs import RunContext
from brokercare.core.settings import get_settings


def calendar_coverage(ctx: RunContext) -> dict:
    """Warn, from 30 days before, that the loaded exchange calendar is about to end."""
    cover = calendar.coverage(ctx.day)
    if cover.warning:
        ctx.warn(cover.warning)
    return {"days_left": cover.days_left if cover.days_left is not None else -1}


def prune_job_history(ctx: RunContext) -> dict:
    """Delete finished runs older than ``BROKERCARE_JOB_HISTORY_DAYS`` (90 by default)."""
    return {"deleted": runs.prune(ctx.engine, keep_days=get_settings().job_history_days)}


JOBS = {
    "calendar_coverage": calendar_coverage,
    "prune_job_history": prune_job_history,
}
