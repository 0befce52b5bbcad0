"""Two ``brokercare scheduler`` processes share a database: each due time runs once, a run missed
while the platform was down is caught up once, and a run whose process is killed mid-run is run
again once by the other process. Real processes, real databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time as clock
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from tests.monitoring.brokerage import small_brokerage

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.models import JobRun, ProcessedEvent
from brokercare.core.schedule import parse
from brokercare.core.settings import get_settings
from brokercare.monitoring.models import MarketValueDaily

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
LEASE_S = 2


def _start(engine, schedule: Path, name: str, logs: Path) -> subprocess.Popen:
    env = {**os.environ,
           "BROKERCARE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "BROKERCARE_DATA_DIR": str(get_settings().data_dir),
           "BROKERCARE_SCHEDULE_FILE": str(schedule),
           "BROKERCARE_JOB_MODULES": "drill_jobs",
           "BROKERCARE_JOB_LEASE_S": str(LEASE_S),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    log = (logs / f"{name}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "brokercare.cli", "scheduler"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def _wait(what: str, ready, timeout: float, procs=()) -> None:
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        if ready():
            return
        for p in procs:
            assert p.poll() is None or p.returncode == -signal.SIGKILL, f"a scheduler exited ({p.returncode})"
        clock.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _runs(session, job: str) -> list[JobRun]:
    session.expire_all()
    return list(session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.due_at)))


def test_two_scheduler_processes_post_close_once_and_a_killed_run_once_more(engine, session, tmp_path):
    small_brokerage(session, 6)
    now = datetime.now(SHANGHAI)
    schedule = tmp_path / "schedule.yaml"
    # The drill is due at every minute, so both processes are up for the first one, however long
    # they take to start on a busy machine.
    schedule.write_text(
        "post_close:\n"
        "  - {job: monitoring.ipo_market_values, at: '15:30'}\n"
        "intraday:\n"
        "  - {job: drill.slow_close, every: 1, from: '00:00', until: '23:59', days: every_day}\n",
        "utf-8")
    # The platform ran the 15:30 job on the trading day before the last one, then was down.
    market = parse(schedule.read_text("utf-8"), "test").entry("monitoring.ipo_market_values").trigger
    dues = list(market.due_times(now - timedelta(days=14), now))
    previous, missed = dues[-2], dues[-1]
    session.execute(insert(JobRun.__table__).values(
        job="monitoring.ipo_market_values", due_at=previous, day=previous.date(), trigger="schedule",
        status="succeeded", attempt=1, owner="old:1:x", started_at=utcnow(), finished_at=utcnow()))
    session.commit()

    logs = tmp_path / "logs"
    logs.mkdir()
    procs = [_start(engine, schedule, f"scheduler-{k}", logs) for k in (1, 2)]
    try:
        _wait("both schedulers to start", lambda: all(
            "jobs scheduled" in (logs / f"scheduler-{k}.log").read_text("utf-8") for k in (1, 2)),
            timeout=180, procs=procs)
        ready = datetime.now(SHANGHAI)
        drill_due = (ready + timedelta(minutes=1)).replace(second=0, microsecond=0)

        # 1. the 15:30 run missed while down: caught up once, by one of the two processes
        _wait("the caught-up 15:30 run", lambda: [r.status for r in _runs(session, "monitoring.ipo_market_values")]
              == ["succeeded", "succeeded"], timeout=30, procs=procs)
        caught = _runs(session, "monitoring.ipo_market_values")[-1]
        assert (caught.due_at, caught.trigger, caught.attempt) == (missed, "catch_up", 1)
        owners = {int(p.pid) for p in procs}
        assert int(caught.owner.split(":")[1]) in owners
        recorded = session.scalar(select(func.count()).select_from(MarketValueDaily)
                                  .where(MarketValueDaily.day == missed.date()))
        assert recorded > 0 and caught.counts == {"recorded": recorded}

        # 2. the drill job, due in both processes at the same second: one claims it; kill it mid-run
        marks = get_settings().data_dir / "drill"
        first = f"{drill_due:%H%M%S}"
        _wait("the drill run to start", lambda: marks.exists() and any(marks.glob(f"start-{first}-1-*")),
              timeout=90, procs=procs)
        victim_pid = int(next(marks.glob(f"start-{first}-1-*")).name.rsplit("-", 1)[1])
        victim = next(p for p in procs if p.pid == victim_pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        survivor = next(p for p in procs if p is not victim)

        def drill_run() -> JobRun | None:
            return next((r for r in _runs(session, "drill.slow_close") if r.due_at == drill_due), None)

        _wait("the other process to run it again", lambda: (r := drill_run()) is not None
              and r.status == "succeeded", timeout=60, procs=[survivor])
        run = drill_run()
        assert (run.attempt, run.trigger, run.counts) == (2, "retry", {"attempt": 2})
        assert int(run.owner.split(":")[1]) == survivor.pid
        assert sorted(m.name for m in marks.glob(f"*-{first}-*")) == sorted(
            [f"start-{first}-1-{victim.pid}", f"start-{first}-2-{survivor.pid}",
             f"end-{first}-2-{survivor.pid}"])
        # no due time ran twice; the killed attempt's transaction was rolled back, so its close
        # is written once
        assert session.scalar(select(func.count()).select_from(ProcessedEvent).where(
            ProcessedEvent.consumer == "drill.slow_close",
            ProcessedEvent.event_id == drill_due.isoformat())) == 1
        assert "stopped mid-run; running it again (attempt 2)" in \
            (logs / f"scheduler-{procs.index(survivor) + 1}.log").read_text("utf-8")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert survivor.returncode == 0  # SIGTERM: stops cleanly
