"""A job for the scheduler's process drills (``BROKERCARE_JOB_MODULES=drill_jobs``): it writes a
row in its transaction, works for a few seconds before committing, and marks each attempt's start
and end in the data dir so the test knows when to kill the process running it."""

from __future__ import annotations

import os
import time

from brokercare.core.models import ProcessedEvent
from brokercare.core.runs import RunContext
from brokercare.core.settings import get_settings

SECONDS = 4.0


def slow_close(ctx: RunContext) -> dict:
    """Record the close of the day in one transaction that takes a few seconds."""
    marks = get_settings().data_dir / "drill"
    marks.mkdir(parents=True, exist_ok=True)
    with ctx.session() as session:
        session.add(ProcessedEvent(consumer="drill.slow_close", event_id=ctx.due.isoformat()))
        session.flush()
        (marks / f"start-{ctx.due:%H%M%S}-{ctx.attempt}-{os.getpid()}").touch()
        time.sleep(SECONDS)
    (marks / f"end-{ctx.due:%H%M%S}-{ctx.attempt}-{os.getpid()}").touch()
    return {"attempt": ctx.attempt}


JOBS = {"drill.slow_close": slow_close}
