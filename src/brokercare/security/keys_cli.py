"""The ``brokercare keys`` commands (status, rotate, retire)."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from brokercare.security.cli import console, keys_app

# Each command imports the services it runs when it runs: every ``brokercare`` call loads every
# domain's CLI module, and keeping SQLAlchemy, Polars and the solvers out of them starts it at once.


@keys_app.command("status")
def keys_status() -> None:
    """How many encrypted values each data key seals."""
    from brokercare.core.database import session_scope
    from brokercare.security.keys import key_status

    with session_scope() as session:
        rows = key_status(session)
    table = Table("key", "status", "values sealed")
    for r in rows:
        table.add_row(r["key_id"], r["status"], f"{r['values']:,}")
    console.print(table)


@keys_app.command("rotate")
def keys_rotate(
    batch_size: int = typer.Option(2000, min=1, max=100_000, help="Values re-sealed per transaction."),
) -> None:
    """Create a new data key and re-encrypt every encrypted column under it, online."""
    from brokercare.core.database import get_engine
    from brokercare.security.keys import rotate

    bars: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:

        def report(column: str, done: int, total: int) -> None:
            if column not in bars:
                bars[column] = progress.add_task(column, total=total)
            progress.update(bars[column], completed=done, total=total)

        result = rotate(get_engine(), batch_size=batch_size, progress=report)
    console.print(
        f"[green]Rotated to {result.new_key_id}[/green]: {result.total:,} values re-sealed "
        f"({', '.join(f'{k} {v:,}' for k, v in result.resealed.items()) or 'none'}) in {result.passes} pass(es); "
        f"{result.skipped_concurrent} changed concurrently and were picked up by a later pass."
    )
    console.print("Old keys stay readable until `brokercare keys retire` drops the ones no value uses.")


@keys_app.command("retire")
def keys_retire() -> None:
    """Delete retired data keys that no stored value uses any more."""
    from brokercare.core.database import session_scope
    from brokercare.core.domains import load_all_models
    from brokercare.security.keys import retire

    load_all_models()
    with session_scope() as session:
        dropped = retire(session)
    if dropped:
        console.print(f"[green]Dropped {len(dropped)} key(s)[/green]: {', '.join(dropped)}")
    else:
        console.print("No retired key is free to drop (still in use, or none retired).")
