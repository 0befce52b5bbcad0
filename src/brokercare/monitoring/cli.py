"""``brokercare monitor ...``: replay, minute bars, calibration, workers, the outbox, IPO jobs.

Each command imports what it runs when it runs: the database layer, pandas and SciPy take seconds
to load, and every ``brokercare`` command (``--help`` included) loads this module.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from brokercare.core.errors import DomainError

monitor_app = typer.Typer(
    help="Real-time monitoring: alerts, margin watch, IPO calendar (messages leave through `brokercare outbox`).",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


def _session():
    from sqlalchemy import inspect  # when the command runs (see the module docstring)

    from brokercare.core.database import get_engine, session_factory

    if not inspect(get_engine()).has_table("monitor_alerts"):
        _fail("the database has no monitoring tables: run `brokercare db upgrade` first")
    return session_factory()()


@monitor_app.command("replay")
def replay_cmd(
    file: Path = typer.Argument(
        ..., help="CSV with datetime,code,price[,volume] (see docs/monitoring.md)."
    ),
    move_pct: float | None = typer.Option(
        None,
        "--move-pct",
        help="Alert threshold in percent for everyone (default: each customer's rule).",
    ),
    window_min: int | None = typer.Option(
        None, "--window-min", help="Window in minutes for everyone (default: each customer's rule)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the triggers as a JSON list."),
) -> None:
    """Replay minute bars or snapshots through the engine against the loaded brokerage (dry run)."""
    from brokercare.market.service import read_rows  # when the command runs
    from brokercare.monitoring.replay import replay

    if move_pct is not None and not 0.1 <= move_pct <= 50:
        _fail("--move-pct must be between 0.1 and 50 (percent)")
    if window_min is not None and not 1 <= window_min <= 60:
        _fail("--window-min must be between 1 and 60")
    try:
        rows = read_rows(file)
    except DomainError as exc:
        _fail(exc.detail)
    times = len({r.time for r in rows})
    session = _session()
    try:
        with Progress(
            TextColumn("[bold]replay"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json and not err.is_terminal,
        ) as progress:
            task = progress.add_task("replay", total=times)
            result = replay(
                session,
                rows,
                move_pct=None if move_pct is None else move_pct / 100,
                window_min=window_min,
                progress=lambda n: progress.advance(task, n),
            )
    finally:
        session.close()
    if as_json:
        typer.echo(json.dumps(result.triggers, ensure_ascii=False, indent=1))
        return
    table = Table(title="Triggers")
    for col in ("time", "code", "name", "rule", "change %", "customers alerted"):
        table.add_column(col)
    for t in result.triggers:
        table.add_row(
            t["time"][:19],
            t["code"],
            t["name"],
            t["rule"],
            f"{t['change_pct']:+.2f}",
            str(len(t["customers"])),
        )
    console.print(table)
    console.print(
        f"{len(rows):,} rows, {result.snapshots:,} snapshots over {result.days} day(s): "
        f"{len(result.triggers)} triggers, {result.customers_alerted} customers alerted"
    )


@monitor_app.command("bars")
def bars_cmd(
    codes: str = typer.Option(
        ..., help="Comma-separated 6-digit codes from the shipped history, e.g. 300750,600519."
    ),
    start: str = typer.Option(..., help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., help="Last day, YYYY-MM-DD."),
    out: Path = typer.Option(..., help="Output CSV (datetime,code,price,volume)."),
) -> None:
    """Write minute-like bars synthesised from the real daily history (see docs/monitoring.md)."""
    from brokercare.monitoring.bars import minute_bars  # when the command runs

    try:
        d0, d1 = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        _fail("dates must be YYYY-MM-DD")
    frame = minute_bars([c.strip() for c in codes.split(",") if c.strip()], d0, d1)
    if frame.empty:
        _fail("no daily history for those codes and dates")
    frame.to_csv(out, index=False)
    console.print(f"wrote {len(frame):,} bars for {frame['code'].nunique()} code(s) to {out}")


@monitor_app.command("calibrate")
def calibrate_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the margin-forecast calibration tables computed on the shipped real daily and minute
    history."""
    from brokercare.monitoring.calibration import calibration_report  # when the command runs

    report = calibration_report()
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    for name, rows in report.items():
        table = Table(title=name)
        cols = list(rows[0])
        for col in cols:
            table.add_column(col, justify="right")
        for r in rows:
            table.add_row(*(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols))
        console.print(table)


@monitor_app.command("worker")
def worker_cmd(
    shard: int = typer.Option(..., help="This worker's shard, 0..shards-1."),
    shards: int = typer.Option(..., help="Number of shards."),
    prefix: str = typer.Option("brokercare:", help="Redis key prefix."),
) -> None:
    """Run one monitoring worker shard against BROKERCARE_BUS_URL."""
    from brokercare.monitoring.worker import main  # when the command runs

    main(["--shard", str(shard), "--shards", str(shards), "--prefix", prefix])


@monitor_app.command("ipo-remind")
def ipo_remind_cmd(
    day: str = typer.Option(None, help="Day (YYYY-MM-DD), default today in Beijing."),
) -> None:
    """Queue today's IPO reminders: subscription day, winning lots, payment before 16:00 on T+2."""
    from brokercare.core.calendar import SHANGHAI  # when the command runs
    from brokercare.core.database import utcnow
    from brokercare.monitoring.ipo import daily_reminders

    d = date.fromisoformat(day) if day else utcnow().astimezone(SHANGHAI).date()
    session = _session()
    try:
        counts = daily_reminders(session, d)
        session.commit()
    finally:
        session.close()
    console.print(", ".join(f"{k}: {v}" for k, v in counts.items()) or "nothing to remind")


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
