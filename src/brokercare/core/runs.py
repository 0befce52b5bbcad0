"""Runs of the day's jobs: the claim on a due time, the heartbeat, the record, the history.

Exactly once per due time, across any number of scheduler processes, comes from one row: the
``job_runs`` table is unique on (job, due time), so of all the processes that try to insert the
row for a due time one succeeds and runs the job, the others get the conflict and move on. The
owner beats a heartbeat on its running rows; a row whose heartbeat stopped (its process died
mid-run, so its transaction was rolled back) is taken over by a compare-and-set on (owner,
attempt, heartbeat) that only one process can win, and run again — once: a second death marks the
run failed. A run of another host is judged by its heartbeat alone; one of this host is also
checked for a live process, so a run that is slow to beat (SQLite held by a long write) is not
taken from a process that is still working on it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from numbers import Number
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.logs import log_context
from brokercare.core.metrics import JOB_DURATION
from brokercare.core.models import JobRun

log = logging.getLogger("brokercare.jobs")
RUNS = JobRun.__table__
#: A run is run again once after its process died; a second death fails it.
MAX_ATTEMPTS = 2
_TOKEN = uuid.uuid4().hex[:8]


def owner_id() -> str:
    """This process, as recorded on the runs it claims: host, pid and a random token."""
    return f"{socket.gethostname()}:{os.getpid()}:{_TOKEN}"


@dataclass(frozen=True)
class Claim:
    id: int
    job: str
    due: datetime
    day: date
    trigger: str
    attempt: int
    owner: str


@dataclass
class RunContext:
    """What a job gets: its due time and business day, and the database to work in.

    A job opens its unit of work with ``with ctx.session() as session:`` (committed when the
    block ends, rolled back on any error) and returns a mapping of counts for the record.
    """

    job: str
    due: datetime  # Beijing time
    day: date  # the business day the run is for
    now: datetime  # when the run started (UTC)
    trigger: str
    attempt: int
    engine: Engine
    session_factory: sessionmaker[Session]
    warnings: list[str] = field(default_factory=list)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def warn(self, message: str) -> None:
        """Record an operator warning on the run (shown in its history) and log it."""
        self.warnings.append(message)
        log.warning("%s (%s): %s", self.job, self.day, message)


JobFunction = Callable[[RunContext], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    status: str
    counts: dict
    warnings: list[str]
    error: str | None
    seconds: float


# --- claiming --------------------------------------------------------------------------------

def _insert_new(engine: Engine, values: dict) -> int | None:
    """Insert a run row unless its (job, due time) exists; its id, or None. ``ON CONFLICT DO
    NOTHING`` rather than catching the error: several schedulers race for every due time, and
    PostgreSQL would log each lost race as an error."""
    dialect = {"postgresql": pg_insert, "sqlite": sqlite_insert}.get(engine.dialect.name)
    with engine.begin() as conn:
        if dialect is None:
            try:
                with conn.begin_nested():
                    return conn.execute(insert(RUNS).values(**values)).inserted_primary_key[0]
            except IntegrityError:
                return None
        return conn.scalar(dialect(RUNS).values(**values)
                           .on_conflict_do_nothing(index_elements=["job", "due_at"])
                           .returning(RUNS.c.id))


def claim(engine: Engine, job: str, due: datetime, *, day: date, trigger: str, owner: str) -> Claim | None:
    """Insert the run row for (job, due); None when another process already has it."""
    now = utcnow()
    run_id = _insert_new(engine, {"job": job, "due_at": due, "day": day, "trigger": trigger,
                                  "status": "running", "attempt": 1, "owner": owner,
                                  "started_at": now, "heartbeat_at": now})
    return None if run_id is None else Claim(run_id, job, due, day, trigger, 1, owner)


def mark_missed(engine: Engine, job: str, dues: list[datetime]) -> int:
    """Record due times that passed while the platform was down and were not caught up."""
    return sum(_insert_new(engine, {
        "job": job, "due_at": due, "day": due.astimezone(SHANGHAI).date(), "trigger": "schedule",
        "status": "missed", "attempt": 0,
        "error": "the platform was not running at the due time; a later due time was caught up instead",
    }) is not None for due in dues)


def _alive_here(owner: str) -> bool:
    """Whether ``owner`` is a live process on this host (False for other hosts: unknown)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return owner == owner_id()
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def stale_runs(engine: Engine, lease_s: float) -> list[Mapping]:
    """Running rows whose heartbeat is older than the lease and whose process is not alive here."""
    limit = utcnow() - timedelta(seconds=lease_s)
    with engine.connect() as conn:
        rows = conn.execute(select(RUNS).where(RUNS.c.status == "running",
                                               RUNS.c.heartbeat_at < limit)).mappings().all()
    return [r for r in rows if not _alive_here(r["owner"] or "")]


def take_over(engine: Engine, row: Mapping, owner: str) -> Claim | None:
    """Run a dead process's run again (once); None when another process won it or it is failed."""
    now = utcnow()
    same = and_(RUNS.c.id == row["id"], RUNS.c.status == "running", RUNS.c.owner == row["owner"],
                RUNS.c.attempt == row["attempt"], RUNS.c.heartbeat_at == row["heartbeat_at"])
    with engine.begin() as conn:
        if row["attempt"] >= MAX_ATTEMPTS or row["trigger"] == "manual":
            why = ("its process stopped during a manual run" if row["trigger"] == "manual" else
                   f"its process stopped during attempt {row['attempt']}; not run again")
            conn.execute(update(RUNS).where(same).values(
                status="failed", finished_at=now, error=f"{why} (last heartbeat "
                f"{row['heartbeat_at']:%Y-%m-%d %H:%M:%S} UTC from {row['owner']})"))
            log.error("%s due %s: %s", row["job"], row["due_at"].astimezone(SHANGHAI), why)
            return None
        won = conn.execute(update(RUNS).where(same).values(
            owner=owner, attempt=row["attempt"] + 1, trigger="retry", started_at=now,
            heartbeat_at=now)).rowcount
    if not won:
        return None
    log.warning("%s due %s: %s stopped mid-run; running it again (attempt %d)", row["job"],
                row["due_at"].astimezone(SHANGHAI), row["owner"], row["attempt"] + 1)
    return Claim(row["id"], row["job"], row["due_at"].astimezone(SHANGHAI), row["day"], "retry",
                 row["attempt"] + 1, owner)


class Heartbeat:
    """One thread per process beating every run the process is working on."""

    def __init__(self, engine: Engine, owner: str, interval_s: float):
        self.engine, self.owner, self.interval_s = engine, owner, interval_s
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, run_id: int) -> None:
        with self._lock:
            self._ids.add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="job-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, run_id: int) -> None:
        with self._lock:
            self._ids.discard(run_id)

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def beat(self) -> None:
        with self._lock:
            ids = sorted(self._ids)
        if not ids:
            return
        try:
            with self.engine.begin() as conn:
                beaten = conn.execute(update(RUNS).where(
                    RUNS.c.id.in_(ids), RUNS.c.owner == self.owner, RUNS.c.status == "running")
                    .values(heartbeat_at=utcnow())).rowcount
        except SQLAlchemyError as exc:  # the database is busy or away: the lease allows for it
            log.warning("job heartbeat not recorded: %s", type(exc).__name__)
            return
        if beaten < len(ids):
            with self._lock:  # a run that finished meanwhile is not lost
                lost = [i for i in ids if i in self._ids]
            if len(lost) > beaten:
                log.error("runs %s are no longer all this process's: a lease expired and another "
                          "process took the run over", lost)


# --- running and recording -------------------------------------------------------------------

def _counts(result: Mapping[str, Any] | None) -> dict:
    out = {}
    for key, value in (result or {}).items():
        if isinstance(value, bool) or not isinstance(value, Number | str):
            value = str(value)
        elif isinstance(value, Number) and not isinstance(value, int | float):
            value = float(value)  # Decimal, NumPy scalars
        out[str(key)] = value
    return out


def finish(engine: Engine, c: Claim, status: str, *, counts: dict | None = None,
           warnings: list[str] | None = None, error: str | None = None) -> bool:
    with engine.begin() as conn:
        done = conn.execute(update(RUNS).where(RUNS.c.id == c.id, RUNS.c.owner == c.owner).values(
            status=status, finished_at=utcnow(), heartbeat_at=None, counts=counts or None,
            warnings=warnings or None, error=error)).rowcount
    if not done:
        log.error("%s due %s: the run was taken over by another process; this result (%s) is "
                  "not recorded", c.job, c.due, status)
    return bool(done)


def execute(engine: Engine, function: JobFunction, c: Claim, heartbeat: Heartbeat,
            session_factory: sessionmaker[Session]) -> Outcome:
    """Run a claimed job and record how it went (a job's failure is recorded, not raised)."""
    with log_context(job=c.job, run_id=c.id):
        return _execute(engine, function, c, heartbeat, session_factory)


def _execute(engine: Engine, function: JobFunction, c: Claim, heartbeat: Heartbeat,
             session_factory: sessionmaker[Session]) -> Outcome:
    ctx = RunContext(c.job, c.due.astimezone(SHANGHAI), c.day, utcnow(), c.trigger, c.attempt,
                     engine, session_factory)
    heartbeat.add(c.id)
    log.info("%s due %s (%s, attempt %d): started by %s", c.job, ctx.due, c.trigger, c.attempt, c.owner)
    status, counts, error = "succeeded", {}, None
    try:
        counts = _counts(function(ctx))
    except Exception as exc:  # noqa: BLE001 - any failure of a job is recorded on its run
        status = "failed"
        error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc(limit=-6))[-3000:]
        log.error("%s due %s failed: %s", c.job, ctx.due, exc, exc_info=True)
    except BaseException:  # Ctrl-C or shutdown of a manual run: recorded, then passed on
        heartbeat.discard(c.id)
        finish(engine, c, "failed", warnings=ctx.warnings, error="interrupted")
        raise
    heartbeat.discard(c.id)
    finish(engine, c, status, counts=counts, warnings=ctx.warnings, error=error)
    seconds = (utcnow() - ctx.now).total_seconds()
    JOB_DURATION.labels(c.job, status).observe(seconds)
    log.info("%s due %s: %s in %.1f s %s", c.job, ctx.due, status, seconds, counts)
    return Outcome(c, status, counts, ctx.warnings, error, seconds)


# --- reading ---------------------------------------------------------------------------------

def as_dict(row: Mapping) -> dict:
    def iso(v: datetime | None) -> str | None:
        return v.astimezone(SHANGHAI).isoformat() if v is not None else None

    seconds = ((row["finished_at"] - row["started_at"]).total_seconds()
               if row["finished_at"] and row["started_at"] else None)
    return {"id": row["id"], "job": row["job"], "due_at": iso(row["due_at"]),
            "day": row["day"].isoformat(), "trigger": row["trigger"], "status": row["status"],
            "attempt": row["attempt"], "owner": row["owner"], "started_at": iso(row["started_at"]),
            "finished_at": iso(row["finished_at"]), "seconds": seconds, "counts": row["counts"] or {},
            "warnings": row["warnings"] or [], "error": row["error"]}


def history(engine: Engine, *, job: str | None = None, status: str | None = None,
            limit: int = 50) -> list[dict]:
    """The latest runs, newest due time first."""
    stmt = select(RUNS).order_by(RUNS.c.due_at.desc(), RUNS.c.id.desc()).limit(limit)
    if job:
        stmt = stmt.where(RUNS.c.job == job)
    if status:
        stmt = stmt.where(RUNS.c.status == status)
    with engine.connect() as conn:
        return [as_dict(r) for r in conn.execute(stmt).mappings()]


def latest_runs(engine: Engine) -> dict[str, dict]:
    """Each job's run for its latest due time."""
    last = (select(RUNS.c.job, func.max(RUNS.c.due_at).label("due")).group_by(RUNS.c.job)
            .subquery())
    stmt = select(RUNS).join(last, and_(RUNS.c.job == last.c.job, RUNS.c.due_at == last.c.due))
    with engine.connect() as conn:
        return {r["job"]: as_dict(r) for r in conn.execute(stmt).mappings()}


def latest_due(engine: Engine, job: str) -> datetime | None:
    with engine.connect() as conn:
        return conn.scalar(select(func.max(RUNS.c.due_at)).where(RUNS.c.job == job))


def running(engine: Engine, job: str) -> Mapping | None:
    with engine.connect() as conn:
        return conn.execute(select(RUNS).where(RUNS.c.job == job, RUNS.c.status == "running")
                            .limit(1)).mappings().first()


def prune(engine: Engine, *, keep_days: int) -> int:
    """Delete finished runs whose due time is more than ``keep_days`` ago."""
    limit = utcnow() - timedelta(days=keep_days)
    with engine.begin() as conn:
        return conn.execute(delete(RUNS).where(RUNS.c.due_at < limit,
                                               RUNS.c.status != "running")).rowcount


def problems(engine: Engine, *, lease_s: float) -> list[str]:
    """What an operator should look at: jobs whose latest run failed, runs whose process stopped
    beating (``/health``)."""
    out = [f"job {job}: the run due {r['due_at'][:16]} failed: {((r['error'] or '').splitlines() or [''])[0]}"
           for job, r in sorted(latest_runs(engine).items()) if r["status"] == "failed"]
    limit = utcnow() - timedelta(seconds=lease_s)
    with engine.connect() as conn:
        stalled = conn.execute(select(RUNS.c.job, RUNS.c.due_at, RUNS.c.owner).where(
            RUNS.c.status == "running", RUNS.c.heartbeat_at < limit)).all()
    out += [f"job {job}: the run due {due.astimezone(SHANGHAI):%Y-%m-%d %H:%M} has had no heartbeat "
            f"from {owner} for over {lease_s:.0f} s" for job, due, owner in stalled]
    return out


def last_successes(engine: Engine) -> dict[str, Mapping]:
    """Per job, its latest successful run's end and duration (the operators' 'last success')."""
    last = (select(RUNS.c.job, func.max(RUNS.c.finished_at).label("at"))
            .where(RUNS.c.status == "succeeded").group_by(RUNS.c.job).subquery())
    stmt = (select(RUNS.c.job, RUNS.c.started_at, RUNS.c.finished_at)
            .join(last, and_(RUNS.c.job == last.c.job, RUNS.c.finished_at == last.c.at)))
    with engine.connect() as conn:
        return {r["job"]: r for r in conn.execute(stmt).mappings()}
