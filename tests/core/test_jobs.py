"""The day's jobs as an operator sees them: runs recorded once per due time, missed runs caught up
once, a dead process's run taken over once, jobs run by hand, the admin API and /health."""

from __future__ import annotations

import json
import threading
import time as clock
from datetime import date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from tests.monitoring.brokerage import (
    add_account,
    add_customer,
    add_instruments,
    hold,
    small_brokerage,
)
from typer.testing import CliRunner

from brokercare.api import create_app
from brokercare.cli import app as cli_app
from brokercare.core import runs
from brokercare.core.calendar import SHANGHAI, add_trading_days, trading_days
from brokercare.core.database import utcnow
from brokercare.core.models import JobRun
from brokercare.core.schedule import parse
from brokercare.core.scheduler import JobScheduler, registered_jobs
from brokercare.core.settings import get_settings, reset_settings
from brokercare.monitoring.ipo import apply, quota_window
from brokercare.monitoring.models import IpoApplication, IpoIssue, MarketValueDaily
from brokercare.outbox.models import OutboxMessage
from brokercare.security.service import create_user

POST_CLOSE = parse("post_close:\n  - {job: monitoring.ipo_market_values, at: '15:30'}\n", "test")
PASSWORD = "Passw0rd2026"


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), SHANGHAI)


def run_rows(session, job: str | None = None) -> list[JobRun]:
    session.expire_all()
    stmt = select(JobRun).order_by(JobRun.due_at)
    return list(session.scalars(stmt.where(JobRun.job == job) if job else stmt))


@pytest.fixture
def brokerage(session):
    out = small_brokerage(session, 6)
    session.commit()
    return out


def test_two_schedulers_run_the_1530_post_close_job_once(engine, session, brokerage):
    due = at(date(2026, 10, 9), 15, 30)
    schedulers = [JobScheduler(engine=engine, schedule=POST_CLOSE) for _ in range(2)]
    outcomes: list = [None, None]
    start = threading.Barrier(2)

    def fire(k: int) -> None:
        start.wait()
        outcomes[k] = schedulers[k].fire(job="monitoring.ipo_market_values", scheduled=due)

    threads = [threading.Thread(target=fire, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [o for o in outcomes if o is not None]
    assert len(done) == 1 and done[0].status == "succeeded"
    values = session.scalar(select(func.count()).select_from(MarketValueDaily)
                            .where(MarketValueDaily.day == date(2026, 10, 9)))
    assert values > 0 and done[0].counts == {"recorded": values}
    [row] = run_rows(session)
    assert (row.status, row.trigger, row.attempt, row.counts) == ("succeeded", "schedule", 1,
                                                                  {"recorded": values})
    assert row.due_at == due and row.day == date(2026, 10, 9)
    assert row.started_at <= row.finished_at and row.heartbeat_at is None


def test_a_run_missed_over_national_day_is_caught_up_once(engine, session, brokerage):
    job = "monitoring.ipo_market_values"
    first = JobScheduler(engine=engine, schedule=POST_CLOSE)
    first.fire(job=job, scheduled=at(date(2026, 9, 29), 15, 30))  # ran, then the platform went down
    back = at(date(2026, 10, 8), 20, 0)  # started again the evening after the holiday
    todo = first.catch_up(back)
    assert todo == [(job, at(date(2026, 10, 8), 15, 30))]
    # two processes starting together computed the same catch-up: one runs it
    second = JobScheduler(engine=engine, schedule=POST_CLOSE)
    assert second.catch_up(back) == todo
    outcomes = [s.fire(job=job, scheduled=back, due=todo[0][1], trigger="catch_up")
                for s in (first, second)]
    assert [o is not None for o in outcomes] == [True, False]
    rows = run_rows(session, job)
    assert [(r.day, r.status, r.trigger) for r in rows] == [
        (date(2026, 9, 29), "succeeded", "schedule"),
        (date(2026, 9, 30), "missed", "schedule"),
        (date(2026, 10, 8), "succeeded", "catch_up")]
    assert "not running at the due time" in rows[1].error
    # restarting again later that evening catches up nothing: never twice
    assert JobScheduler(engine=engine, schedule=POST_CLOSE).catch_up(back + timedelta(hours=1)) == []
    # a job that never ran here has nothing to catch up (a new installation)
    fresh = parse("post_close:\n  - {job: monitoring.ipo_settlement, at: '16:05'}\n", "test")
    assert JobScheduler(engine=engine, schedule=fresh).catch_up(back) == []


def test_a_run_whose_process_died_is_run_again_once(engine, session, brokerage):
    job = "monitoring.ipo_market_values"
    long_ago = utcnow() - timedelta(minutes=5)
    dead = {"job": job, "trigger": "schedule", "status": "running", "owner": "bc-sched-7:4242:deadbeef",
            "started_at": long_ago, "heartbeat_at": long_ago}
    with engine.begin() as conn:
        conn.execute(insert(JobRun.__table__), [
            {**dead, "due_at": at(date(2026, 10, 9), 15, 30), "day": date(2026, 10, 9), "attempt": 1},
            {**dead, "due_at": at(date(2026, 10, 12), 15, 30), "day": date(2026, 10, 12), "attempt": 2}])
    scheduler = JobScheduler(engine=engine, schedule=POST_CLOSE)
    taken = [runs.take_over(engine, row, scheduler.owner) for row in runs.stale_runs(engine, 60)]
    retry = [c for c in taken if c is not None]
    assert [c.day for c in retry] == [date(2026, 10, 9)] and retry[0].attempt == 2
    # another process reaping at the same moment cannot win it a second time
    assert all(runs.take_over(engine, row, "other:1:x") is None
               for row in runs.stale_runs(engine, 60))
    outcome = scheduler.run_claimed(retry[0])
    assert outcome.status == "succeeded" and outcome.counts["recorded"] > 0
    rows = {r.day: r for r in run_rows(session, job)}
    assert (rows[date(2026, 10, 9)].status, rows[date(2026, 10, 9)].attempt,
            rows[date(2026, 10, 9)].trigger) == ("succeeded", 2, "retry")
    failed = rows[date(2026, 10, 12)]
    assert failed.status == "failed" and "stopped during attempt 2; not run again" in failed.error


def test_a_failed_run_is_recorded_with_its_error_and_shown_to_operators(engine, session, brokerage):
    day = date(2026, 10, 9)
    session.add(IpoIssue(code="732999", symbol="688999.SH", name="测试科技", exchange="SH",
                         board="star", subscribe_on=add_trading_days(day, -2), price="25.00",
                         max_shares=5000, results_on=day, payment_on=day, source="test"))
    session.commit()
    result = CliRunner().invoke(cli_app, ["jobs", "run", "monitoring.ipo_lottery_results",
                                          "--date", day.isoformat()])
    assert result.exit_code == 1
    assert "lottery results not received for 1 issue(s)" in " ".join(result.output.split())
    history = CliRunner().invoke(cli_app, ["jobs", "history", "--json"])
    [run] = json.loads(history.output)
    assert (run["job"], run["status"], run["trigger"], run["day"]) == (
        "monitoring.ipo_lottery_results", "failed", "manual", "2026-10-09")
    assert "732999.csv" in run["error"] and run["finished_at"] >= run["started_at"]
    problems = runs.problems(engine, lease_s=60)
    assert any("monitoring.ipo_lottery_results" in p and "failed" in p for p in problems)


def test_an_ipo_day_runs_through_the_scheduled_jobs(engine, session):
    """Market values after each close, the subscription reminder with the quota, the lottery
    file on T+2 morning, the winning and payment notices, settlement after 16:00."""
    add_instruments(session)
    c = add_customer(session, 1)
    acct = add_account(session, c, cash="1000")
    hold(session, acct, "600036.SH", 1000, "30.00")  # 35,000 of SH stock
    T = date(2026, 10, 20)
    session.add(IpoIssue(code="780001", symbol="603999.SH", name="沪上新材", exchange="SH",
                         board="main", subscribe_on=T, price="20.00", max_shares=10000,
                         results_on=add_trading_days(T, 2), payment_on=add_trading_days(T, 2),
                         source="test"))
    session.commit()
    scheduler = JobScheduler(engine=engine, schedule=parse(
        "pre_open:\n  - {job: monitoring.ipo_lottery_results, at: '08:15'}\n"
        "  - {job: monitoring.ipo_reminders, at: '08:30'}\n"
        "post_close:\n  - {job: monitoring.ipo_market_values, at: '15:30'}\n"
        "  - {job: monitoring.ipo_settlement, at: '16:05'}\n", "test"))

    def fire(job: str, day: date, hh: int, mm: int):  # noqa: ANN202
        return scheduler.fire(job=job, scheduled=at(day, hh, mm))

    for d in trading_days(*quota_window(T)):
        assert fire("monitoring.ipo_market_values", d, 15, 30).counts == {"recorded": 1}
    assert fire("monitoring.ipo_reminders", T, 8, 30).counts["subscription"] == 1
    note = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "ipo_subscription"))
    assert "最多可申购 3,000 股" in note.body
    apply(session, c.id, "780001", 3000, T)
    session.commit()
    t2 = add_trading_days(T, 2)
    inbox = get_settings().data_dir / "inbox" / "ipo-lottery"
    inbox.mkdir(parents=True)
    (inbox / "780001.csv").write_text(f"customer_no,won_shares\n{c.customer_no},1000\n", "utf-8")
    assert fire("monitoring.ipo_lottery_results", t2, 8, 15).counts == {"issues": 1, "winners": 1}
    assert fire("monitoring.ipo_reminders", t2, 8, 30).counts == {
        "subscription": 0, "winning": 1, "payment": 1}
    assert fire("monitoring.ipo_settlement", t2, 16, 5).counts == {"paid": 0, "abandoned": 1}
    session.expire_all()
    assert session.scalar(select(IpoApplication.status)) == "abandoned"
    assert len(run_rows(session)) == 20 + 4


def test_jobs_run_by_hand_refuses_a_holiday_and_is_recorded(engine, session, brokerage):
    runner = CliRunner()
    holiday = runner.invoke(cli_app, ["jobs", "run", "monitoring.ipo_market_values", "--date",
                                      "2026-10-01"])
    assert holiday.exit_code == 1 and "2026-10-01 is 国庆节" in holiday.output
    assert run_rows(session) == []
    done = runner.invoke(cli_app, ["jobs", "run", "monitoring.ipo_market_values", "--date",
                                   "2026-10-09"])
    assert done.exit_code == 0, done.output
    assert "monitoring.ipo_market_values for 2026-10-09: succeeded" in done.output
    [row] = run_rows(session)
    assert (row.trigger, row.status, row.day) == ("manual", "succeeded", date(2026, 10, 9))
    assert row.counts["recorded"] > 0
    unknown = runner.invoke(cli_app, ["jobs", "run", "monitoring.no_such_job"])
    assert unknown.exit_code == 1 and "no job 'monitoring.no_such_job'" in unknown.output
    listed = json.loads(runner.invoke(cli_app, ["jobs", "list", "--json"]).output)
    by_job = {r["job"]: r for r in listed}
    assert set(by_job) >= {"service.sla_check", "customers.profile_refresh", "advisory.goal_review"}
    assert by_job["monitoring.ipo_market_values"]["last_run"]["status"] == "succeeded"


def _login(client, username: str) -> dict:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_admins_see_the_schedule_and_runs_and_health_says_what_is_stale(engine, session, brokerage):
    create_user(session, username="admin01", password=PASSWORD, role="admin", display_name="运维管理员")
    create_user(session, username="agent01", password=PASSWORD, role="agent", display_name="坐席小王")
    session.commit()
    JobScheduler(engine=engine, schedule=POST_CLOSE).fire(
        job="monitoring.ipo_market_values", scheduled=at(date(2026, 10, 9), 15, 30))
    with TestClient(create_app()) as client:
        assert client.get("/api/v1/jobs").status_code == 401
        assert client.get("/api/v1/jobs", headers=_login(client, "agent01")).status_code == 403
        admin = _login(client, "admin01")
        body = client.get("/api/v1/jobs", headers=admin).json()
        jobs = {j["job"]: j for j in body["jobs"]}
        assert jobs["monitoring.ipo_market_values"]["when"] == "trading days 15:30"
        assert jobs["monitoring.ipo_market_values"]["last_run"]["status"] == "succeeded"
        assert body["calendar"]["covered_until"] == "2026-12-31"
        runs_ = client.get("/api/v1/jobs/runs", params={"job": "monitoring.ipo_market_values"},
                           headers=admin).json()
        assert [r["due_at"] for r in runs_] == ["2026-10-09T15:30:00+08:00"]
        health = client.get("/health").json()
        assert health["scheduler"] == "off" and health["calendar"]["covered_until"] == "2026-12-31"
        days_left = (date(2026, 12, 31) - datetime.now(SHANGHAI).date()).days
        assert (any("load the 2027 holiday notice" in w for w in health["warnings"])
                == (days_left <= 30))


def test_the_api_process_runs_the_schedule_when_embedded(engine, session, tmp_path, monkeypatch):
    """The API process keeps the schedule: on start it makes up the 08:00 run the platform missed
    while it was down this morning (the live clock is the same scheduler's, see the process test)."""
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("pre_open:\n  - {job: core.calendar_coverage, at: '08:00', days: every_day}\n",
                        "utf-8")
    now = datetime.now(SHANGHAI)
    trigger = parse(schedule.read_text("utf-8"), "test").entries[0].trigger
    *_, yesterday, missed = trigger.due_times(now - timedelta(days=3), now)
    session.execute(insert(JobRun.__table__).values(
        job="core.calendar_coverage", due_at=yesterday, day=yesterday.date(), trigger="schedule",
        status="succeeded", attempt=1, owner="old:1:x", started_at=utcnow(), finished_at=utcnow()))
    session.commit()
    monkeypatch.setenv("BROKERCARE_SCHEDULER", "embedded")
    monkeypatch.setenv("BROKERCARE_SCHEDULE_FILE", str(schedule))
    reset_settings()
    with TestClient(create_app()) as client:
        assert client.get("/health").json()["scheduler"] == "embedded"
        deadline = clock.monotonic() + 60
        while clock.monotonic() < deadline and len([r for r in run_rows(session) if r.finished_at]) < 2:
            clock.sleep(0.2)
    rows = run_rows(session)
    assert [(r.due_at, r.trigger, r.status) for r in rows] == [
        (yesterday, "schedule", "succeeded"), (missed, "catch_up", "succeeded")]
    assert rows[-1].counts["days_left"] == (date(2026, 12, 31) - missed.date()).days


def test_every_declared_job_is_a_function_of_a_run_context():
    jobs = registered_jobs()
    assert {"service.sla_check", "service.close_idle_conversations", "monitoring.ipo_settlement",
            "customers.profile_refresh", "advisory.rebalance_proposals"} <= set(jobs)
    assert all(callable(f) and f.__doc__ for f in jobs.values())
