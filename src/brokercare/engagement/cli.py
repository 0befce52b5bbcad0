"""``brokercare report daily``: the post-close daily reports as HTML or PDF files, on demand.

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
    try:
        when = date.fromisoformat(day)
    except ValueError:
        console.print(f"[red]--date {day!r} is not a date (YYYY-MM-DD)[/red]")
        raise typer.Exit(2) from None
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("daily reports", total=None)
            paths = write_reports(get_engine(), when, out, fmt=fmt, customer_no=customer, everyone=everyone,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    except DomainError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]{len(paths)} daily report(s) of {when}[/green] written to {out / when.isoformat()}")


def register(app: typer.Typer) -> None:
    report_group(app).command("daily")(daily_report)
