"""``brokercare report quality --month 2026-11 --out DIR``: the monthly service-quality report on
demand (the scheduled ``quality.monthly_report`` runs the same code and also mails it)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from brokercare.core.cli import report_group

console = Console()


def quality_report(
    month: str = typer.Option(..., "--month", help="Month, YYYY-MM (Beijing time)."),
    out: Path = typer.Option(..., "--out", help="Directory; writes quality-<month>.html and .pdf."),
) -> None:
    """Write the monthly service-quality report (KPIs, trends, SLA breaches, complaint themes)."""
    from brokercare.core.database import session_scope
    from brokercare.core.domains import load_all_models
    from brokercare.core.errors import DomainError
    from brokercare.quality import report, service

    load_all_models()
    try:
        with console.status(f"Computing the KPIs of {month}…"), session_scope() as session:
            kpis = service.month_kpis(session, month)
            html_path, pdf_path = report.write(kpis, out, report.gather(session, kpis))
    except DomainError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    o = kpis.overall
    console.print(f"[green]Service-quality report {month}[/green]: {o['conversations']:,} conversations, "
                  f"{o['sla_breaches']} SLA breaches, {o['complaints']} complaints → {html_path} and {pdf_path}")


def register(app: typer.Typer) -> None:
    report_group(app).command("quality")(quality_report)
