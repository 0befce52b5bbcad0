"""``brokercare report daily``: the post-close daily reports as HTML or PDF files, on demand;
``brokercare engagement``: the tier services, the VIP specialists and the IPO estimates.

The domain's modules are imported inside the command: ``brokercare`` loads every domain's CLI at
start-up and the report pulls in Polars and the PDF renderer.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from brokercare.core.cli import report_group

console = Console()


def _date(day: str) -> date:
    """``--date`` as a date, or the command stops with what was wrong."""
    try:
        return date.fromisoformat(day)
    except ValueError:
        console.print(f"[red]--date {day!r} is not a date (YYYY-MM-DD)[/red]")
        raise typer.Exit(2) from None


def daily_report(
    day: str = typer.Option(..., "--date", help="Trading day, YYYY-MM-DD."),
    customer: str | None = typer.Option(None, "--customer", help="One customer's number (default: every "
                                        "customer who opted in to the daily report)."),
    fmt: str = typer.Option("html", "--format", help="html or pdf."),
    out: Path = typer.Option(..., "--out", help="Directory; files go to DIR/<date>/<customer no>.<format>."),
    everyone: bool = typer.Option(False, "--all", help="Every open customer, opted in or not."),
) -> None:
    """Write daily post-close reports (the scheduled engagement.daily_reports runs the same code)."""
    from brokercare.core.database import get_engine
    from brokercare.core.domains import load_all_models
    from brokercare.core.errors import DomainError
    from brokercare.engagement.service import write_reports

    load_all_models()
    when = _date(day)
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("daily reports", total=None)
            paths = write_reports(get_engine(), when, out, fmt=fmt, customer_no=customer, everyone=everyone,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    except DomainError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]{len(paths)} daily report(s) of {when}[/green] written to {out / when.isoformat()}")


engagement_app = typer.Typer(help="Proactive services: tier services, VIP specialists, IPO estimates.",
                              no_args_is_help=True)


@engagement_app.command("tier-services")
def tier_services() -> None:
    """What each service tier gets (engagement/data/tier_services.yaml)."""
    from brokercare.engagement.tiers import config

    cfg = config()
    for tier in ("vip", "potential", "mass", "long_tail"):
        console.print(f"{tier}: {'、'.join(cfg.of_tier(tier)) or '-'}")
    console.print(f"1+N specialist skills: {', '.join(f'{k} ({v})' for k, v in cfg.team.skills.items())}")


@engagement_app.command("specialist-add")
def specialist_add(username: str = typer.Argument(..., help="A staff login."),
                   skill: str = typer.Option(..., "--skill", help="A skill of tier_services.yaml, e.g. margin.")) -> None:
    """Register a member of staff as a VIP specialist; the next tier_services run assigns them."""
    from sqlalchemy.orm import Session

    from brokercare.core.database import get_engine
    from brokercare.core.domains import load_all_models
    from brokercare.core.errors import DomainError
    from brokercare.engagement.service import add_specialist

    load_all_models()
    with Session(get_engine()) as session:
        try:
            add_specialist(session, username=username, skill=skill)
        except DomainError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        session.commit()
    console.print(f"[green]{username} is now a {skill} specialist[/green]")


@engagement_app.command("ipo-estimate")
def ipo_estimate(day: str = typer.Option(..., "--date", help="Subscription day, YYYY-MM-DD.")) -> None:
    """First-day estimates of the new shares subscribing on a day, from comparable recent listings."""
    from sqlalchemy.orm import Session

    from brokercare.core.database import get_engine
    from brokercare.core.domains import load_all_models
    from brokercare.engagement.service import ipo_estimates

    load_all_models()
    when = _date(day)
    with Session(get_engine()) as session:
        found = ipo_estimates(session, day=when)
    for e in found:
        console.print(e.text)
    if not found:
        console.print(f"no new share subscribes on {when}")


def register(app: typer.Typer) -> None:
    report_group(app).command("daily")(daily_report)
    app.add_typer(engagement_app, name="engagement")
