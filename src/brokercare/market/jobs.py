"""The market domain's scheduled job: the day's closes, which the post-close reports measure with."""

from __future__ import annotations

from brokercare.core.runs import RunContext
from brokercare.market.closes import record_closes


def record_closes_job(ctx: RunContext) -> dict:
    """Store each priced instrument's reference price as the day's close."""
    with ctx.engine.begin() as conn:
        return {"closes": record_closes(conn, ctx.day)}


JOBS = {"record_closes": record_closes_job}
