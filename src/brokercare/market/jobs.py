"""The market's scheduled job (``core/data/schedule.yaml``; docs/jobs.md): after the close, the
day's live minute bars become its daily bars — the one store of closes, which tomorrow's limit
prices, 20-day volumes and volatilities and the daily reports' P&L come from."""

from __future__ import annotations

from brokercare.core.runs import RunContext
from brokercare.market import store


def close_day(ctx: RunContext) -> dict:
    """Roll today's minute bars into daily bars; keep five trading days of minute bars."""
    with ctx.session() as session:
        return store.close_day(session.connection(), ctx.day)


JOBS = {"close_day": close_day}
