"""The scheduler: runs the schedule's jobs at their due times, each exactly once across processes.

APScheduler 3 keeps the clock: its ``BackgroundScheduler`` wakes at each entry's next due time
(computed by ``schedule.CalendarTrigger`` from its ``CronTrigger`` and the exchange calendar) and
hands the job to a thread pool. Its persistent job stores are deliberately not used: APScheduler 3
documents that a job store cannot be shared by several schedulers (they would run jobs twice or
miss them), and the platform runs any number of scheduler processes — the API processes in
embedded mode, ``brokercare scheduler`` when scaled out. The durable state is ours instead:
``job_runs`` (``core.runs``) gives the claim on each due time, the heartbeat and takeover of runs
whose process died, and the record that lets a starting scheduler catch up a run the platform
missed while it was down — once, because the catch-up claims the same (job, due time) row.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from brokercare.core import calendar, runs
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_engine, utcnow
from brokercare.core.domains import domain_jobs
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.core.runs import Claim, JobFunction, Outcome
from brokercare.core.schedule import Schedule, ScheduleError, day_allowed, load_schedule
from brokercare.core.settings import Settings, get_settings

log = logging.getLogger("brokercare.jobs")


class DueTimeExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, handing each job the time it was due (APScheduler's own
    ``run_job`` calls the function without it). With ``coalesce`` only the latest is passed."""

    def _do_submit_job(self, job, run_times):  # APScheduler's executor interface
        def done(f):
            exc = f.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, [])

        future = self._pool.submit(job.func, *job.args, scheduled=run_times[-1], **job.kwargs)
        future.add_done_callback(done)


def noting_provisional(function: JobFunction) -> JobFunction:
    """The job, warning on its run when its day lies in a year no holiday notice covers."""

    def run(ctx: runs.RunContext):
        if calendar.is_provisional(ctx.day):
            ctx.warn(f"{ctx.day.year} has no exchange holiday notice loaded: this run's trading "
                     f"days are provisional (every weekday counts)")
        return function(ctx)

    return run


def registered_jobs(settings: Settings | None = None) -> dict[str, JobFunction]:
    """Every job the domains' ``jobs.py`` declare, and the broker's own (``job_modules``)."""
    return domain_jobs((settings or get_settings()).job_modules)


class JobScheduler:
    """The schedule of one process. ``start()`` catches up what was missed and keeps time."""

    def __init__(self, *, engine: Engine | None = None, schedule: Schedule | None = None,
                 jobs: Mapping[str, JobFunction] | None = None, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.engine = engine or get_engine()
        self.schedule = schedule or load_schedule(self.settings.schedule_file)
        self.jobs = dict(jobs if jobs is not None else registered_jobs(self.settings))
        unknown = self.schedule.unknown_jobs(set(self.jobs))
        if unknown:
            raise ScheduleError(f"{self.schedule.source} names job(s) no domain declares: "
                                f"{', '.join(unknown)} (declared: {', '.join(sorted(self.jobs))})")
        self.owner = runs.owner_id()
        self.started_at: datetime | None = None
        self.lease_s = self.settings.job_lease_s
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.heartbeat = runs.Heartbeat(self.engine, self.owner, max(self.lease_s / 4, 0.2))
        self._aps = BackgroundScheduler(
            timezone=SHANGHAI,
            executors={"default": DueTimeExecutor(self.settings.job_workers)},
            # A due time passed while busy or suspended still runs, once (the latest of them).
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- the clock ------------------------------------------------------------------------------
    def start(self) -> None:
        self.started_at = utcnow()
        warning = calendar.coverage().warning
        if warning:
            log.warning("scheduler: %s", warning)
        for entry in self.schedule.entries:
            self._aps.add_job(self.fire, trigger=entry.trigger, id=entry.job, name=entry.job,
                              kwargs={"job": entry.job})
        self._aps.add_job(self._reap, "interval", seconds=max(self.lease_s / 3, 0.5), id="_reaper",
                          name="take over runs of dead processes")
        self._aps.start()
        for job, due in self.catch_up():
            self._submit(job, due=due, trigger="catch_up")
        log.info("scheduler %s: %d jobs scheduled from %s", self.owner, len(self.schedule.entries),
                 self.schedule.source)

    def shutdown(self, wait: bool = True) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=wait)
        self.heartbeat.stop()

    def _submit(self, job: str, *, due: datetime | None = None, trigger: str = "schedule",
                claim: Claim | None = None) -> None:
        """Run a job now in the pool (a catch-up or a takeover) rather than at a due time."""
        self._aps.add_job(self.fire, trigger="date", run_date=utcnow(), misfire_grace_time=None,
                          kwargs={"job": job, "due": due, "trigger": trigger, "claim": claim})

    def fire(self, *, job: str, scheduled: datetime | None = None, due: datetime | None = None,
             trigger: str = "schedule", claim: Claim | None = None) -> Outcome | None:
        """Run ``job`` for its due time (``scheduled`` as the clock passed it, or an explicit
        ``due`` for a catch-up) if this process wins the claim; None when another one did."""
        if claim is None:
            due = (due or scheduled).astimezone(SHANGHAI)
            claim = runs.claim(self.engine, job, due, day=due.date(), trigger=trigger, owner=self.owner)
            if claim is None:
                log.info("%s due %s: claimed by another process", job, due)
                return None
        return self.run_claimed(claim)

    def run_claimed(self, claim: Claim) -> Outcome:
        return runs.execute(self.engine, noting_provisional(self.jobs[claim.job]), claim,
                            self.heartbeat, self.sessions)

    # -- missed runs and dead processes ---------------------------------------------------------
    def catch_up(self, now: datetime | None = None) -> list[tuple[str, datetime]]:
        """The runs to make up for on start: per job, the latest due time it missed.

        Only jobs that have run here before can have missed anything (a new installation has
        nothing to catch up); earlier missed due times are recorded as ``missed``.
        """
        now = (now or utcnow()).astimezone(SHANGHAI)
        since = now - timedelta(days=self.settings.job_catch_up_days)
        todo = []
        for entry in self.schedule.entries:
            if not entry.catch_up:
                continue
            last = runs.latest_due(self.engine, entry.job)
            if last is None:
                continue
            missed = list(entry.trigger.due_times(max(since, last + timedelta(seconds=1)), now))
            if not missed:
                continue
            runs.mark_missed(self.engine, entry.job, missed[:-1])
            log.warning("%s: due %s while the platform was down; catching up once%s", entry.job,
                        missed[-1], f" ({len(missed) - 1} earlier due times recorded as missed)"
                        if len(missed) > 1 else "")
            todo.append((entry.job, missed[-1]))
        return todo

    def _reap(self, *, scheduled: datetime | None = None) -> int:
        taken = 0
        for row in runs.stale_runs(self.engine, self.lease_s):
            if row["job"] not in self.jobs:
                continue
            c = runs.take_over(self.engine, row, self.owner)
            if c is not None:
                taken += 1
                self._submit(c.job, claim=c)
        return taken


def schedule_overview(now: datetime | None = None) -> list[dict]:
    """Each scheduled job with its next due time and its latest run (``jobs list``, the API)."""
    settings = get_settings()
    now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    declared = registered_jobs(settings)
    latest = runs.latest_runs(get_engine())
    out = []
    for e in load_schedule(settings.schedule_file).entries:
        due = e.trigger.next_due(now)
        out.append({"job": e.job, "phase": e.phase, "when": e.when, "catch_up": e.catch_up,
                    "declared": e.job in declared,
                    "description": ((declared[e.job].__doc__ or "").strip().splitlines() or [""])[0]
                    if e.job in declared else "",
                    "next_due": due.isoformat() if due else None,
                    "next_due_provisional": calendar.is_provisional(due.date()) if due else None,
                    "last_run": latest.get(e.job)})
    return out


# --- the two ways to run it -------------------------------------------------------------------

_embedded: JobScheduler | None = None


def start_embedded() -> JobScheduler | None:
    """Start the schedule inside this (API) process when the settings ask for it."""
    global _embedded
    if get_settings().scheduler != "embedded" or _embedded is not None:
        return _embedded
    if not logging.getLogger().handlers and not log.handlers:
        # uvicorn configures only its own loggers: give the runs' log lines a place to go
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    _embedded = JobScheduler()
    _embedded.start()
    return _embedded


def stop_embedded() -> None:
    global _embedded
    if _embedded is not None:
        _embedded.shutdown(wait=True)
        _embedded = None


def embedded_running() -> bool:
    return _embedded is not None


def embedded_since() -> datetime | None:
    """When this process started running the schedule (None: it does not run it)."""
    return _embedded.started_at if _embedded is not None else None


def run_forever() -> None:
    """``brokercare scheduler``: keep the schedule until SIGTERM or Ctrl-C, then let running
    jobs finish."""
    scheduler = JobScheduler()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.start()
    try:
        while not stop.wait(3600):
            pass
    finally:
        log.info("scheduler %s: stopping; waiting for running jobs", scheduler.owner)
        scheduler.shutdown(wait=True)


def run_now(job: str, day: date | None = None, *, force: bool = False) -> Outcome:
    """``brokercare jobs run``: run a job by hand for ``day`` in this process, recorded."""
    settings = get_settings()
    jobs = registered_jobs(settings)
    if job not in jobs:
        raise NotFound(f"no job {job!r}; declared: {', '.join(sorted(jobs))}")
    day = day or datetime.now(SHANGHAI).date()
    entry = load_schedule(settings.schedule_file).entry(job)
    if entry is not None and not force and not day_allowed(entry.trigger.days, day):
        name = calendar.holidays().get(day) or ("a weekend" if day.weekday() >= 5 else "not such a day")
        raise ValidationFailed(f"{day} is {name}: the schedule runs {job} on {entry.when}; "
                               f"use --force to run it anyway")
    engine = get_engine()
    busy = runs.running(engine, job)
    if busy is not None and not force:
        raise ValidationFailed(f"{job} is running now (due {busy['due_at']:%Y-%m-%d %H:%M}, "
                               f"{busy['owner']}); use --force to run it alongside")
    owner = runs.owner_id()
    claim = runs.claim(engine, job, utcnow(), day=day, trigger="manual", owner=owner)
    assert claim is not None  # due "now" is unique to this call
    heartbeat = runs.Heartbeat(engine, owner, max(settings.job_lease_s / 4, 0.2))
    try:
        return runs.execute(engine, noting_provisional(jobs[job]), claim, heartbeat,
                            sessionmaker(engine, expire_on_commit=False))
    finally:
        heartbeat.stop()
