"""``brokercare scheduler`` and ``brokercare jobs list|run|history``: the day's jobs (docs/jobs.md)."""

from __future__ import annotations

import json
import logging
from datetime import date

import typer
from rich.console import Console
from rich.table import Table

from brokercare.core import calendar, logs, runs, scheduler
from brokercare.core.database import get_engine
from brokercare.core.errors import DomainError
from brokercare.core.schedule import ScheduleError

console = Console()
jobs_app = typer.Typer(help="The day's jobs: the schedule, runs by hand, the record of runs.",
                       no_args_is_help=True)


@jobs_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="JSON for scripts.")) -> None:
    """The schedule: each job, when it runs, when it is next due and how its last run went."""
    try:
        rows = scheduler.schedule_overview()
    except ScheduleError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("job", "phase", "when (Beijing)", "next due", "last run")
    for r in rows:
        nxt = r["next_due"][:16].replace("T", " ") if r["next_due"] else "—"
        if r["next_due_provisional"]:
            nxt += " [yellow](provisional)[/yellow]"
        last = r["last_run"]
        shown = (f"{last['status']} {last['due_at'][:16].replace('T', ' ')} "
                 f"{_counts_text(last['counts'])}" if last else "never")
        name = r["job"] if r["declared"] else f"[red]{r['job']} (not declared)[/red]"
        table.add_row(name, r["phase"], r["when"], nxt, shown)
    console.print(table)
    warning = calendar.coverage().warning
    if warning:
        console.print(f"[yellow]{warning}[/yellow]")


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


@jobs_app.command("run")
def run_cmd(
    name: str = typer.Argument(..., help="The job, e.g. monitoring.ipo_market_values."),
    day: str = typer.Option(None, "--date", help="Business day YYYY-MM-DD (default: today, Beijing)."),
    force: bool = typer.Option(False, "--force", help="Run on a day the schedule would not, or "
                               "while another run of the job is going on."),
) -> None:
    """Run a job now, in this process, for a day; the run is recorded like a scheduled one."""
    # the job's warnings (and its domain's) appear as log lines
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        console.print(f"[red]--date {day!r} is not a date (YYYY-MM-DD)[/red]")
        raise typer.Exit(2) from None
    try:
        outcome = scheduler.run_now(name, when, force=force)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    if outcome.status != "succeeded":
        console.print(f"[red]{name} for {outcome.claim.day} failed[/red] after {outcome.seconds:.1f} s: "
                      f"{(outcome.error or '').splitlines()[0]}")
        raise typer.Exit(1)
    console.print(f"[green]{name} for {outcome.claim.day}: succeeded[/green] in {outcome.seconds:.1f} s"
                  f"{'; ' + _counts_text(outcome.counts) if outcome.counts else ''}")


@jobs_app.command("history")
def history_cmd(
    job: str = typer.Option(None, "--job", help="Only this job."),
    status: str = typer.Option(None, help="Only runs in this status (succeeded, failed, running, missed)."),
    limit: int = typer.Option(30, min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts."),
) -> None:
    """The latest runs: due time, start, end, status, counts, error."""
    rows = runs.history(get_engine(), job=job, status=status, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("job", "due (Beijing)", "trigger", "status", "try", "took", "counts / error")
    colour = {"succeeded": "green", "failed": "red", "running": "cyan", "missed": "yellow"}
    for r in rows:
        took = f"{r['seconds']:.1f} s" if r["seconds"] is not None else "—"
        detail = ((r["error"] or "").splitlines() or [""])[0] if r["status"] == "failed" \
            else _counts_text(r["counts"])
        if r["warnings"]:
            detail += f" [yellow]⚠ {'; '.join(r['warnings'])}[/yellow]"
        table.add_row(r["job"], r["due_at"][:19].replace("T", " "), r["trigger"],
                      f"[{colour.get(r['status'], 'white')}]{r['status']}[/]", str(r["attempt"]),
                      took, detail)
    console.print(table)


def scheduler_cmd() -> None:
    """Run the schedule as its own process (any number of them run each job once per due time)."""
    logs.configure(logging.INFO)
    try:
        scheduler.run_forever()
    except ScheduleError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def report_group(app: typer.Typer) -> typer.Typer:
    """The ``report`` command group domains add their reports to (created by the first caller)."""
    found = [g.typer_instance for g in app.registered_groups if g.name == "report" and g.typer_instance]
    if found:
        return found[0]
    group = typer.Typer(help="Reports.", no_args_is_help=True)
    app.add_typer(group, name="report")
    return group


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
    app.command("scheduler")(scheduler_cmd)
