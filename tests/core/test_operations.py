"""What operators watch on a platform left running: /health names the job that did not run,
/metrics gives each job's last success, and log lines carry the job run they belong to."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from brokercare.api import create_app
from brokercare.core import logs
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.models import JobRun
from brokercare.core.schedule import parse
from brokercare.core.settings import reset_settings


def schedule_every_day_at(tmp_path, monkeypatch, hhmm: str):
    path = tmp_path / "schedule.yaml"
    path.write_text(f"pre_open:\n  - {{job: core.calendar_coverage, at: '{hhmm}', days: every_day}}\n",
                    "utf-8")
    monkeypatch.setenv("BROKERCARE_SCHEDULE_FILE", str(path))
    monkeypatch.setenv("BROKERCARE_SCHEDULER", "off")
    reset_settings()
    return parse(path.read_text("utf-8"), "test").entries[0].trigger


def samples(text: str, name: str) -> dict[tuple, float]:
    return {tuple(s.labels.values()): s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == name}


def test_health_names_a_job_that_is_due_and_never_ran(engine, tmp_path, monkeypatch):
    now = datetime.now(SHANGHAI)
    due = (now - timedelta(hours=1)).strftime("%H:%M")
    schedule_every_day_at(tmp_path, monkeypatch, due)
    with TestClient(create_app()) as client:
        health = client.get("/health").json()
    assert health["status"] == "warn" and health["scheduler"] == "off"
    assert any(w.startswith(f"job core.calendar_coverage: due {now - timedelta(hours=1):%Y-%m-%d} "
                            f"{due} and not run (is a scheduler running?")
               for w in health["warnings"]), health["warnings"]


def test_metrics_give_each_jobs_last_success_and_health_is_quiet_once_it_ran(engine, session,
                                                                            tmp_path, monkeypatch):
    trigger = schedule_every_day_at(tmp_path, monkeypatch, "00:01")
    now = datetime.now(SHANGHAI)
    *_, due = trigger.due_times(now - timedelta(days=2), now)
    started = utcnow() - timedelta(seconds=42)
    session.execute(insert(JobRun.__table__).values(
        job="core.calendar_coverage", due_at=due, day=due.date(), trigger="schedule",
        status="succeeded", attempt=1, owner="host:1:x", started_at=started,
        finished_at=started + timedelta(seconds=3.5)))
    session.commit()
    with TestClient(create_app()) as client:
        text = client.get("/metrics").text
        health = client.get("/health").json()
    assert samples(text, "brokercare_job_last_success_duration_seconds") == {
        ("core.calendar_coverage",): 3.5}
    assert samples(text, "brokercare_job_last_success_timestamp_seconds")[
        ("core.calendar_coverage",)] == (started + timedelta(seconds=3.5)).timestamp()
    assert samples(text, "brokercare_job_last_run_failed") == {("core.calendar_coverage",): 0.0}
    assert not [w for w in health["warnings"] if w.startswith("job ")], health["warnings"]


def test_json_log_lines_carry_the_job_run(monkeypatch, capsys):
    monkeypatch.setenv("BROKERCARE_LOG_FORMAT", "json")
    reset_settings()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure()
        with logs.log_context(job="monitoring.ipo_market_values", run_id=812):
            logging.getLogger("brokercare.jobs").info("市值计算完成：%d 位客户", 1873)
        logging.getLogger("brokercare.jobs").warning("outside any run")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.strip().splitlines())
    assert inside["message"] == "市值计算完成：1873 位客户" and inside["level"] == "INFO"
    assert inside["job"] == "monitoring.ipo_market_values" and inside["run_id"] == 812
    assert inside["logger"] == "brokercare.jobs" and "time" in inside
    assert "job" not in outside and outside["level"] == "WARNING"


def test_metrics_want_the_token_when_one_is_set(engine, monkeypatch):
    monkeypatch.setenv("BROKERCARE_METRICS_TOKEN", "scrape-2026-12")
    reset_settings()
    with TestClient(create_app()) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-2026-12"})
    assert ok.status_code == 200 and "brokercare_calendar_days_left" in ok.text


def test_the_intake_queue_depth_is_a_metric():
    """What waits in a process's message intake shows in /metrics while it waits."""
    import asyncio
    import threading

    from prometheus_client import REGISTRY

    from brokercare.service.intake import Intake

    def depth() -> float:
        return REGISTRY.get_sample_value("brokercare_messages_waiting")

    release = threading.Event()

    def slow(batch):
        release.wait(5)
        return batch

    async def scenario():
        intake = Intake(slow, workers=1, max_batch=1)
        before = depth()
        tasks = [asyncio.create_task(intake.submit(n)) for n in range(4)]
        await asyncio.sleep(0.2)  # one in the worker, three waiting
        waiting = depth() - before
        release.set()
        await asyncio.gather(*tasks)
        return waiting, depth() - before

    assert asyncio.run(scenario()) == (3, 0)


def test_a_process_that_just_started_the_schedule_is_not_blamed_for_the_downtime(engine, tmp_path,
                                                                                monkeypatch):
    """Right after a restart the every-minute jobs have not run yet: that is the catch-up's
    business, not a stalled scheduler."""
    path = tmp_path / "schedule.yaml"
    path.write_text("intraday:\n  - {job: core.calendar_coverage, every: 1, from: '00:00', "
                    "until: '23:59', days: every_day}\n", "utf-8")
    monkeypatch.setenv("BROKERCARE_SCHEDULE_FILE", str(path))
    monkeypatch.setenv("BROKERCARE_SCHEDULER", "embedded")
    reset_settings()
    with TestClient(create_app()) as client:
        warnings = client.get("/health").json()["warnings"]
    assert not [w for w in warnings if "not run" in w], warnings


def test_a_load_balancer_probing_health_does_not_query_the_database_each_time(engine, monkeypatch):
    """Probes within a few seconds get the same reading (its ``checked_at`` says when it was made)."""
    monkeypatch.setenv("BROKERCARE_SCHEDULER", "off")
    reset_settings()
    with TestClient(create_app()) as client:
        first, second = client.get("/health").json(), client.get("/health").json()
    assert first["checked_at"] == second["checked_at"]
