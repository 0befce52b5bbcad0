"""``brokercare generate``: a realistic, seeded demo brokerage."""

from __future__ import annotations

from datetime import date

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()

TIER_LABELS = {"long_tail": "长尾 (<50万)", "mass": "大众 (50万–500万)",
               "potential": "潜力 (500万–5000万)", "vip": "VIP (≥5000万)"}


def generate(
    customers: int = typer.Option(20_000, "--customers", "-n", min=1, help="Number of customers."),
    seed: int = typer.Option(42, help="Random seed: the same seed and size give the same brokerage."),
    as_of: str = typer.Option(None, help="Business date the history ends on (YYYY-MM-DD; default today)."),
    workers: int = typer.Option(None, help="Generator processes (default: up to 2)."),
    skip_hooks: bool = typer.Option(False, help="Do not run the domains' demo hooks."),
) -> None:
    """Generate a demo brokerage: customers, accounts, holdings, a year of trades and events."""
    from brokercare.core.database import get_engine
    from brokercare.demo.brokerage import generate_brokerage

    try:
        day = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        raise typer.BadParameter(f"not a date: {as_of!r} (expected YYYY-MM-DD)") from None
    engine = get_engine()
    with Progress(TextColumn("[bold]generating"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("customers"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("customers", total=customers)
        summary = generate_brokerage(engine, customers=customers, seed=seed, as_of=day,
                                     workers=workers, run_domain_hooks=not skip_hooks,
                                     progress=lambda k: bar.advance(task, k))
    table = Table(title=f"Demo brokerage (seed {seed}, as of {day})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in summary.counts.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    tiers = Table(title="AUM tiers")
    tiers.add_column("tier")
    tiers.add_column("customers", justify="right")
    tiers.add_column("share", justify="right")
    for key, label in TIER_LABELS.items():
        c = summary.tiers.get(key, 0)
        tiers.add_row(label, f"{c:,}", f"{c / max(customers, 1):.2%}")
    console.print(tiers)
    for note in summary.notes:
        console.print(f"[dim]{note}[/dim]")
    console.print(f"[green]{customers:,} customers in {summary.seconds:.1f} s "
                  f"({customers / max(summary.seconds, 1e-9):,.0f} customers/s)[/green]; "
                  f"customer managers log in as cm<branch><nn> with the demo staff password "
                  f"(BROKERCARE_DEMO_STAFF_PASSWORD, default {summary.staff_password!r}).")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
