"""``brokercare ledger verify|checkpoint|show|proof``."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

# Each command imports the services it runs when it runs: every ``brokercare`` call loads every
# domain's CLI module, and keeping SQLAlchemy, Polars and the solvers out of them starts it at once.

console = Console()
ledger_app = typer.Typer(help="The tamper-evident ledger.", no_args_is_help=True)


@ledger_app.callback()
def _models() -> None:
    """The tamper-evident ledger."""
    from brokercare.core.domains import load_all_models

    load_all_models()


@ledger_app.command("verify")
def verify_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    full: bool = typer.Option(False, "--full", help="Check every entry's signature, not only checkpoints."),
    witness: bool = typer.Option(False, "--witness", help="Also check the tree heads the witness holds "
                                 "(BROKERCARE_LEDGER_WITNESS): catches a history re-signed with a stolen key."),
    witness_at: str = typer.Option(None, "--witness-at", help="Check this witness (file or URL) instead."),
) -> None:
    """Recompute every leaf, tree head, signature and checkpoint; exit 1 naming the first bad entry."""
    from brokercare.core.database import session_scope
    from brokercare.ledger import service
    from brokercare.ledger import witness as witnesses

    seen = None
    with session_scope() as session:
        total = service.size(session)
        if as_json:
            report = service.verify(session, full=full)
        else:
            with console.status(f"Verifying {total:,} ledger entries…"):
                report = service.verify(session, full=full)
        if witness or witness_at:
            seen = witnesses.verify_against(session, witness_at)
    if seen is not None and not seen.ok:
        report.ok = False
        report.issues += [f"witness {seen.witness}: {issue}" for issue in seen.issues]
    if as_json:
        out = report.as_dict()
        if seen is not None:
            out["witness"] = seen.as_dict()
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    elif report.ok:
        console.print(
            f"[green]Ledger intact[/green]: {report.size:,} entries, root {report.root_hash}, "
            f"{report.checkpoints} signed checkpoint(s) verified (key {report.key_id})."
            + (f" Witness agrees on {seen.checked} tree head(s)." if seen is not None else "")
        )
    else:
        if report.first_bad_index is not None:
            console.print(f"[red]Ledger tampered[/red]: first bad entry {report.first_bad_index} ({report.problem})")
            console.print(report.detail)
        for issue in report.issues:
            console.print(f"[red]- {issue}[/red]")
    if not report.ok:
        raise typer.Exit(code=1)


@ledger_app.command("checkpoint")
def checkpoint_cmd() -> None:
    """Sign and store a checkpoint for the current size; print it (publish it to a witness)."""
    from brokercare.core.database import session_scope
    from brokercare.ledger import service

    with session_scope() as session:
        cp = service.checkpoint(session, create=True)
        out = service.checkpoint_dict(cp) if cp else None
    if out is None:
        console.print("The ledger is empty.")
        raise typer.Exit(code=0)
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))


@ledger_app.command("show")
def show_cmd(
    last: int = typer.Option(20, min=1, help="How many of the latest entries."),
    kind: str = typer.Option(None, help="Only entries of this kind, e.g. pii.read."),
) -> None:
    """List the latest entries."""
    from sqlalchemy import select

    from brokercare.core.database import session_scope
    from brokercare.ledger.models import LedgerEntry

    with session_scope() as session:
        stmt = select(LedgerEntry).order_by(LedgerEntry.id.desc()).limit(last)
        if kind:
            stmt = stmt.where(LedgerEntry.kind == kind)
        rows = session.scalars(stmt).all()
        table = Table("index", "time (UTC)", "kind", "subject", "data")
        for e in reversed(rows):
            data = json.dumps(json.loads(e.body).get("data"), ensure_ascii=False)
            table.add_row(str(e.id), e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.kind, e.subject,
                          data if len(data) < 90 else data[:87] + "…")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")
