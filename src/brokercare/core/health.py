"""What an operator watches: ``/health`` says what is stale, ``/metrics`` gives the figures.

Each domain may have a ``health.py`` with ``warnings(session, now) -> list[str]`` (what is stale
or failing, in English for operators) and ``metrics(session, now)`` (Prometheus gauge families read
from its own tables). :func:`status` gathers the warnings of every domain; this module is also
core's own: the exchange calendar's end and the scheduled jobs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from brokercare.core import calendar, runs, scheduler
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_engine, session_scope, utcnow
from brokercare.core.domains import domain_modules
from brokercare.core.schedule import load_schedule
from brokercare.core.settings import get_settings

# A due run with no row this long after its due time means no scheduler is running.
NOT_RUN_GRACE = timedelta(minutes=5)
CACHE_S = 5.0
_recent: dict[str, tuple[float, dict]] = {}


def status(now: datetime | None = None) -> dict:
    """The body of ``/health``: ``ok`` is false when any domain has something stale to report.

    Read at most every :data:`CACHE_S` seconds per database and process: a load balancer probing
    every instance several times a second must not turn each probe into a dozen queries."""
    key = str(get_engine().url)
    cached = _recent.get(key)
    if now is None and cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    body = _status(now or utcnow())
    if now is None:
        _recent[key] = (time.monotonic(), body)
    return body


def _status(now: datetime) -> dict:
    warnings: list[str] = []
    try:
        with session_scope() as session:
            for module in domain_modules("health"):
                check = getattr(module, "warnings", None)
                if check is not None:
                    warnings += check(session, now)
    except SQLAlchemyError as exc:
        warnings.append(f"database unreadable: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    return {"ok": not warnings, "checked_at": now.astimezone(SHANGHAI).isoformat(),
            "calendar": calendar.coverage(now.astimezone(SHANGHAI).date()).as_dict(),
            "scheduler": "embedded" if scheduler.embedded_running() else "off",
            "warnings": warnings}


def warnings(session: Session, now: datetime) -> list[str]:
    cover = calendar.coverage(now.astimezone(SHANGHAI).date())
    out = [cover.warning] if cover.warning else []
    engine = get_engine()
    out += runs.problems(engine, lease_s=get_settings().job_lease_s)
    return out + _not_run(engine, now)


def _not_run(engine, now: datetime) -> list[str]:
    """Jobs whose latest due time passed with no run at all: nothing is running the schedule."""
    latest = runs.latest_runs(engine)
    # A process that runs the schedule itself is judged from its start: what was due while the
    # platform was down is the catch-up's business (and /health just after a restart stays quiet).
    since = max(now - timedelta(days=1), scheduler.embedded_since() or now - timedelta(days=1))
    out = []
    for entry in load_schedule(get_settings().schedule_file).entries:
        dues = list(entry.trigger.due_times(since, now - NOT_RUN_GRACE))
        if not dues:
            continue
        ran = latest.get(entry.job)
        if ran is None or datetime.fromisoformat(ran["due_at"]) < dues[-1]:
            out.append(f"job {entry.job}: due {dues[-1].astimezone(SHANGHAI):%Y-%m-%d %H:%M} and "
                       "not run (is a scheduler running? BROKERCARE_SCHEDULER / brokercare scheduler)")
    return out


def metrics(session: Session, now: datetime) -> Iterator[GaugeMetricFamily]:
    engine = get_engine()
    success = GaugeMetricFamily("brokercare_job_last_success_timestamp_seconds",
                                "End of each job's latest successful run (Unix time).", labels=["job"])
    took = GaugeMetricFamily("brokercare_job_last_success_duration_seconds",
                             "Duration of each job's latest successful run.", labels=["job"])
    for job, row in sorted(runs.last_successes(engine).items()):
        success.add_metric([job], row["finished_at"].timestamp())
        took.add_metric([job], (row["finished_at"] - row["started_at"]).total_seconds())
    failed = GaugeMetricFamily("brokercare_job_last_run_failed",
                               "1 when the job's latest run failed.", labels=["job"])
    for job, row in sorted(runs.latest_runs(engine).items()):
        failed.add_metric([job], 1.0 if row["status"] == "failed" else 0.0)
    cover = calendar.coverage(now.astimezone(SHANGHAI).date())
    days = GaugeMetricFamily("brokercare_calendar_days_left",
                             "Days until the loaded exchange calendar ends.")
    days.add_metric([], float(cover.days_left if cover.days_left is not None else -1))
    yield from (success, took, failed, days)
