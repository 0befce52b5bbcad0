"""``brokercare service ...`` (SLA job, routing worker, policy check) and
``brokercare report feedback --quarter 2026Q3``."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from brokercare.core.errors import DomainError

console = Console()
service_app = typer.Typer(help="Service hub: SLA job, routing worker, routing policy.", no_args_is_help=True)


def _fail(exc: DomainError) -> None:
    console.print(f"[red]{exc.detail}[/red]")
    raise typer.Exit(code=1)


@service_app.command("sla-check")
def sla_check(
    now: str = typer.Option(None, help="Evaluate as of this ISO time (with offset); default: now."),
    every: int = typer.Option(0, help="Repeat every N seconds (0: run once). Safe to run in several places."),
    idle_minutes: int = typer.Option(30, help="Close AI-only conversations idle this long (and send CSAT)."),
) -> None:
    """Warn owners before SLA deadlines, escalate breaches to team leads, close idle AI chats."""
    from brokercare.core.database import session_scope
    from brokercare.service import service as conversations
    from brokercare.service import sla

    at = None
    if now:
        at = datetime.fromisoformat(now)
        if at.tzinfo is None:
            console.print("[red]--now needs a UTC offset, e.g. 2026-09-15T10:00:00+08:00[/red]")
            raise typer.Exit(code=2)
    while True:
        with session_scope() as session:
            stranded = conversations.route_stranded(session, now=at)
            result = sla.run_sla_check(session, at)
            closed = conversations.close_idle_conversations(session, idle_minutes=idle_minutes, now=at)
        for notice in result.notices[:20]:
            console.print(f"  {notice}")
        console.print(f"[green]SLA check[/green]: {result.warned} warned, {result.breached} breached, "
                      f"{result.escalated} escalated; {closed} idle conversations closed with a CSAT request; "
                      f"{stranded} stranded messages routed")
        if every <= 0:
            return
        time.sleep(every)


@service_app.command("worker")
def worker(
    consumer: str = typer.Option(None, help="Consumer name in the group (default: host-pid)."),
    min_idle_ms: int = typer.Option(30_000, help="Reclaim a dead consumer's messages after this idle time."),
) -> None:
    """Route inbound messages from the Redis Streams bus (BROKERCARE_BUS_URL=redis://...)."""
    from brokercare.core.settings import get_settings

    url = get_settings().bus_url
    if not url or not url.startswith("redis"):
        console.print("[red]Set BROKERCARE_BUS_URL=redis://host:6379/0: with the in-process bus the API "
                      "routes messages itself and no worker is needed.[/red]")
        raise typer.Exit(code=2)
    from brokercare.core.bus_redis import RedisStreamBus
    from brokercare.service.service import subscribe_routing

    bus = RedisStreamBus(url, consumer=consumer, min_idle_ms=min_idle_ms)
    subscribe_routing(bus)
    console.print(f"[green]Routing worker {bus.consumer}[/green] consuming message.received; Ctrl-C stops.")
    try:
        bus.run()
    except KeyboardInterrupt:
        console.print(f"stopped: {bus.stats.handled} handled, {bus.stats.failed} failed, "
                      f"{bus.stats.reclaimed} reclaimed")


@service_app.command("routing-check")
def routing_check(policy: Path = typer.Option(None, help="Policy YAML to validate (default: the active one)."),
                  ) -> None:
    """Validate a routing policy and show its rules in evaluation order."""
    from brokercare.service.routing import load_policy

    try:
        p = load_policy(str(policy) if policy else None)
    except DomainError as exc:
        _fail(exc)
    table = Table(title="Routing rules (first match wins)")
    for col in ("#", "rule", "when", "outcome", "skill", "priority", "ticket", "24h"):
        table.add_column(col)
    for i, r in enumerate(p.rules, 1):
        when = ", ".join(f"{k}={v}" for k, v in r.when.model_dump(exclude_none=True).items())
        table.add_row(str(i), r.name, when, r.then.outcome, r.then.skill or "(intent)", str(r.then.priority),
                      str(r.then.ticket or ""), "yes" if r.then.around_the_clock else "")
    table.add_row("", "default", "", p.default.outcome, "(intent)", str(p.default.priority), "", "")
    console.print(table)
    bh = p.business_hours
    console.print(f"Business hours: {bh.days} {bh.open:%H:%M}–{bh.close:%H:%M} ({bh.timezone}); "
                  f"after hours a human outcome becomes {p.after_hours.outcome}.")


cases_app = typer.Typer(help="Resolved cases the hand-off summary shows as similar.", no_args_is_help=True)
service_app.add_typer(cases_app, name="cases")


@cases_app.command("reindex")
def cases_reindex(
    everything: bool = typer.Option(False, "--all", help="Re-embed every resolved ticket, not only those "
                                                         "without a vector of the current encoder."),
) -> None:
    """Embed resolved tickets that have no case vector yet (resolved before this existed, or while
    no assistant was wired), or one made by an older encoder; drop tickets reopened since."""
    from rich.progress import Progress

    from brokercare.core.database import session_scope
    from brokercare.service import cases

    with Progress(transient=True) as progress, session_scope() as session:
        task = progress.add_task("Embedding resolved tickets…", total=None)
        done = cases.reindex(session, everything=everything,
                             progress=lambda n, total: progress.update(task, completed=n, total=total))
    console.print(f"[green]Cases reindexed[/green]: {done.embedded} embedded, {done.current} already current, "
                  f"{done.dropped} reopened tickets dropped (threshold cosine ≥ {cases.SIMILARITY_MIN}).")


def feedback_report(
    quarter: str = typer.Option(..., help="Quarter, e.g. 2026Q3."),
    out: Path = typer.Option(None, help="Directory for the Markdown and HTML files "
                                        "(default: reports/ in the data dir)."),
) -> None:
    """Write the quarterly customer-feedback report (Markdown and HTML)."""
    from brokercare.core.database import session_scope
    from brokercare.core.settings import get_settings
    from brokercare.service.reports import write_feedback_report

    out = out or get_settings().data_dir / "reports"

    try:
        with console.status(f"Building the {quarter} feedback report…"), session_scope() as session:
            md, html = write_feedback_report(session, quarter, out)
    except DomainError as exc:
        _fail(exc)
    console.print(f"[green]Feedback report {quarter.upper()}[/green]: {md} and {html}")


def _report_group(app: typer.Typer) -> typer.Typer:
    """The shared ``report`` command group (other domains add their reports to it too)."""
    for info in app.registered_groups:
        if info.name == "report" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help="Reports (Markdown and HTML).", no_args_is_help=True)
    app.add_typer(group, name="report")
    return group


def register(app: typer.Typer) -> None:
    app.add_typer(service_app, name="service")
    _report_group(app).command("feedback")(feedback_report)
