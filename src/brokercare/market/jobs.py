"""The market's scheduled jobs (``core/data/schedule.yaml``; docs/jobs.md): after the close, the
day's live minute bars become its daily bars (tomorrow's limit prices, 20-day volumes and
volatilities come from them), and each instrument's close is stored for the daily reports."""

from __future__ import annotations

from brokercare.core.runs import RunContext
from brokercare.market import store
from brokercare.market.closes import record_closes


def close_day(ctx: RunContext) -> dict:
    """Roll today's minute bars into daily bars; keep five trading days of minute bars."""
    with ctx.session() as session:
        return store.close_day(session.connection(), ctx.day)


def record_closes_job(ctx: RunContext) -> dict:
    """Store each priced instrument's reference price as the day's close."""
    with ctx.engine.begin() as conn:
        return {"closes": record_closes(conn, ctx.day)}


JOBS = {"close_day": close_day, "record_closes": record_closes_job}
