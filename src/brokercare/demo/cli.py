"""Getting data in: ``brokercare generate`` (a seeded demo brokerage) and ``brokercare import``
(a broker's own customers, accounts, positions and trades)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from brokercare.core.errors import DomainError

if TYPE_CHECKING:
    from brokercare.core.bulkimport import ImportReport, ImportSpec

console = Console()

#: What each domain's demo step writes, as `generate` reports it.
DOMAIN_STEPS = {
    "security": "staff logins", "customers": "customer profiles and demo logins",
    "advisory": "risk assessments, goals and proposals", "monitoring": "alerts and margin calls",
    "service": "service conversations answered by the assistant",
    "engagement": "daily reports, leads and greetings",
}

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
    # Imported when the command runs: `brokercare` imports this module for every command, and the
    # database layer and the domains' services take seconds to import.
    from brokercare.core import migrate
    from brokercare.core.calendar import SHANGHAI
    from brokercare.core.database import get_engine
    from brokercare.demo.brokerage import generate_brokerage

    try:
        day = date.fromisoformat(as_of) if as_of else datetime.now(SHANGHAI).date()
    except ValueError:
        raise typer.BadParameter(f"not a date: {as_of!r} (expected YYYY-MM-DD)") from None
    engine = get_engine()
    with console.status("bringing the database schema up to date ..."), engine.begin() as conn:
        migrate.upgrade(conn)  # a fresh data dir needs no separate `db upgrade`
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("generating customers", total=customers)

        def step(domain: str, seconds: float | None) -> None:
            """Each domain's demo history on its own line: minutes of work are never silent."""
            if seconds is None:
                bar.update(task, description=f"demo history: {DOMAIN_STEPS.get(domain, domain)}")
            else:
                bar.console.print(f"  {DOMAIN_STEPS.get(domain, domain)}: {seconds:.1f} s")

        summary = generate_brokerage(engine, customers=customers, seed=seed, as_of=day,
                                     workers=workers, run_domain_hooks=not skip_hooks,
                                     progress=lambda k: bar.advance(task, k), on_step=step)
    table = Table(title=f"Demo brokerage (seed {seed}, as of {day})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in summary.counts.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    tiers = Table(title="AUM tiers" + (" (customer profiles)" if not skip_hooks else " (as generated)"))
    tiers.add_column("tier")
    tiers.add_column("customers", justify="right")
    tiers.add_column("share", justify="right")
    for key, label in TIER_LABELS.items():
        c = summary.tiers.get(key, 0)
        tiers.add_row(label, f"{c:,}", f"{c / max(customers, 1):.2%}")
    console.print(tiers)
    for note in summary.notes:
        console.print(f"[dim]{note}[/dim]")
    hooks = f", then {summary.hook_seconds:.1f} s of domain demo data" if summary.hook_seconds else ""
    console.print(f"[green]{customers:,} customers in {summary.seconds:.1f} s "
                  f"({customers / max(summary.seconds, 1e-9):,.0f} customers/s){hooks}[/green]; "
                  f"customer managers log in as cm<branch><nn> with the demo staff password "
                  f"(BROKERCARE_DEMO_STAFF_PASSWORD, default {summary.staff_password!r}).")


IMPORT_KINDS = ("customers", "accounts", "positions", "trades", "orders", "cash_movements",
                "margin_contracts", "margin_shorts", "risk_assessments", "behaviour_events", "family_members", "life_events", "ipo_issues")


def import_file(
    kind: str = typer.Argument(..., help="What the file holds: " + ", ".join(IMPORT_KINDS) + "."),
    file: Path = typer.Argument(..., help="CSV (UTF-8 or GBK) or Parquet file; see docs/import.md."),
    quarantine: Path = typer.Option(None, "--quarantine", "-q",
                                    help="Import the good rows and write the bad ones, with the reason, here."),
) -> None:
    """Import a file; all or nothing unless --quarantine names a file for the bad rows."""
    from brokercare.core.bulkimport import ImportRejected, run_import  # when run (see generate)
    from brokercare.core.database import get_engine

    spec = _import_spec(kind)
    try:
        with console.status(f"importing {file.name} ({kind}) ..."):
            report = run_import(get_engine(), spec, file, quarantine=quarantine)
    except ImportRejected as exc:
        _print_errors(exc.report)
        console.print(f"[red]Nothing imported[/red]: {exc.report.rejected} of {exc.report.rows} rows are "
                      f"invalid. Fix them, or re-run with --quarantine BAD.csv to import the good rows.")
        raise typer.Exit(1) from None
    except DomainError as exc:
        console.print(f"[red]Nothing imported[/red]: {exc}")
        raise typer.Exit(1) from None
    _print_errors(report)
    table = Table(title=f"import {kind}: {file.name}")
    for col in ("rows", "inserted", "updated", "unchanged", "quarantined"):
        table.add_column(col, justify="right")
    table.add_row(f"{report.rows:,}", f"{report.inserted:,}", f"{report.updated:,}",
                  f"{report.unchanged:,}", f"{report.rejected:,}")
    console.print(table)
    if report.quarantine:
        console.print(f"[yellow]{report.rejected} bad rows written to {report.quarantine}[/yellow]")


def _import_spec(kind: str) -> ImportSpec:
    from brokercare.accounts import service as accounts_service  # when run (see generate)
    from brokercare.customers import service as customers_service

    if kind in customers_service.IMPORT_KINDS:
        return customers_service.import_spec(kind)
    if kind in accounts_service.IMPORT_KINDS:
        return accounts_service.import_spec(kind, customer_ids=customers_service.ids_by_customer_no)
    if kind == "ipo_issues":
        from brokercare.monitoring import service as monitoring_service

        return monitoring_service.ipo_issues_spec()
    if kind == "risk_assessments":
        from brokercare.advisory import service as advisory_service
        from brokercare.core.bus import InProcessBus, get_bus

        # On the in-process bus this command is the only listener: the customers domain's
        # handlers bring each customer's risk level and profile up to the imported assessment.
        if isinstance(get_bus(), InProcessBus):
            customers_service.subscribe_handlers()
        return advisory_service.risk_assessments_spec()
    raise typer.BadParameter(f"{kind!r}: expected one of {', '.join(IMPORT_KINDS)}")


def _print_errors(report: ImportReport, limit: int = 20) -> None:
    if not report.errors:
        return
    table = Table(title=f"{report.rejected} invalid rows" + (f" (first {limit})" if report.rejected > limit else ""))
    table.add_column("row", justify="right")
    table.add_column("reason")
    for e in report.errors[:limit]:
        table.add_row(str(e.row), e.reason)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("import")(import_file)
