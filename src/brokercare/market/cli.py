"""``brokercare market ...``: the instrument master, price history, the live feed and the calendar.

Every ``brokercare`` command loads this module, so the commands import the database layer and the
market's modules when they run, not here.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()
market_app = typer.Typer(help="Instruments, price history, live quotes and the exchange calendar.", no_args_is_help=True)


@market_app.command("load-instruments")
def load_instruments_cmd() -> None:
    """Insert or refresh the shipped instrument master (stocks, ETFs, funds, reverse repos)."""
    from sqlalchemy.orm import Session  # deferred: see the module docstring

    from brokercare.core.database import get_engine
    from brokercare.market.service import instrument_count_by_kind, load_instruments

    engine = get_engine()
    n = load_instruments(engine)
    with Session(engine) as session:
        kinds = instrument_count_by_kind(session)
    console.print(f"[green]{n:,} instruments loaded[/green]: " +
                  ", ".join(f"{k} {c:,}" for k, c in sorted(kinds.items())))


@market_app.command("build-reference")
def build_reference_cmd(
    source: Path = typer.Argument(..., help="Folder with the public market data sets (see data/SOURCE.md)."),
    out: Path = typer.Option(Path(__file__).parent / "data" / "instruments.csv", help="Output CSV."),
) -> None:
    """Rebuild the shipped instruments.csv from the public data sets (maintainers only)."""
    from brokercare.market.reference import build_reference  # deferred: see the module docstring

    counts = build_reference(source, out)
    console.print(f"[green]wrote {out}[/green]: {counts}")


@market_app.command("load-calendar")
def load_calendar_cmd(
    file: Path = typer.Argument(..., help="The exchanges' holiday notice as rows: date,exchanges,name "
                                "(CSV, UTF-8 or GBK, or Parquet; see docs/jobs.md)."),
) -> None:
    """Load the exchanges' yearly holiday notice: all or nothing, row-numbered errors, idempotent."""
    from brokercare.core import calendar
    from brokercare.core.bulkimport import ImportRejected
    from brokercare.core.database import get_engine
    from brokercare.core.errors import DomainError

    try:
        report = calendar.load_notice(get_engine(), file)
    except ImportRejected as exc:
        for e in exc.report.errors[:20]:
            console.print(f"  row {e.row}: {e.reason}")
        console.print(f"[red]Nothing loaded[/red]: {exc.report.rejected} of {exc.report.rows} rows "
                      f"are invalid.")
        raise typer.Exit(1) from None
    except DomainError as exc:
        console.print(f"[red]Nothing loaded[/red]: {exc.detail}")
        raise typer.Exit(1) from None
    cover = calendar.coverage()
    console.print(f"[green]{file.name}[/green]: {report.inserted} closed days added, {report.updated} "
                  f"updated, {report.unchanged} unchanged; the calendar covers "
                  f"{', '.join(map(str, sorted(calendar.covered_years())))} (until {cover.covered_until})")
    if cover.warning:
        console.print(f"[yellow]{cover.warning}[/yellow]")


@market_app.command("load-bars")
def load_bars_cmd(
    file: Path = typer.Argument(..., help="Bars as CSV (UTF-8 or GBK) or Parquet: date|datetime, code, open, high, "
                                "low, close, volume[, amount] (see docs/market-data.md)."),
    freq: str = typer.Option("daily", "--freq", help="daily, 1min or 5min."),
) -> None:
    """Load a broker's price history: all or nothing, row-numbered errors, idempotent by (code, time)."""
    from brokercare.core.bulkimport import ImportRejected
    from brokercare.core.database import get_engine
    from brokercare.core.errors import DomainError
    from brokercare.market.service import load_bars

    try:
        report = load_bars(get_engine(), file, freq)
    except ImportRejected as exc:
        for e in exc.report.errors[:20]:
            console.print(f"  row {e.row}: {e.reason}")
        console.print(f"[red]Nothing loaded[/red]: {exc.report.rejected} of {exc.report.rows} rows are invalid.")
        raise typer.Exit(1) from None
    except DomainError as exc:
        console.print(f"[red]Nothing loaded[/red]: {exc.detail}")
        raise typer.Exit(1) from None
    console.print(f"[green]{file.name}[/green]: {report.rows:,} {freq} bars, {report.inserted:,} new, "
                  f"{report.updated:,} already stored (kept or corrected)")


@market_app.command("feed")
def feed_cmd(
    file: Path = typer.Argument(..., help="A bars file with the load-bars columns (datetime for minute bars)."),
    speed: float = typer.Option(0.0, "--speed", help="Times real time (60: a minute per second); 0 = as fast as possible."),
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The running platform."),
    token: str = typer.Option(None, "--token", envvar="BROKERCARE_FEED_TOKEN",
                              help="A market_feed bearer token; on the platform's own host it is taken from the data dir."),
) -> None:
    """Replay a bars file into a running platform through POST /api/v1/market/quotes."""
    import httpx

    from brokercare.core.errors import DomainError
    from brokercare.market.feed import replay

    try:
        report = replay(file, url, token or _local_feed_token(), speed=speed)
    except DomainError as exc:
        console.print(f"[red]Feed stopped[/red]: {exc.detail}")
        raise typer.Exit(1) from None
    except (httpx.TransportError, OSError) as exc:  # refused, timed out, no such host
        console.print(f"[red]Feed stopped[/red]: cannot reach {url}: {exc}")
        raise typer.Exit(1) from None
    rate = report.quotes / report.seconds if report.seconds else 0.0
    console.print(f"[green]{file.name}[/green]: {report.batches:,} snapshots, {report.quotes:,} quotes "
                  f"({report.accepted:,} new, {report.ignored:,} already there) in {report.seconds:.1f} s, "
                  f"{rate:,.0f} quotes/s")


def _local_feed_token() -> str:
    """A market_feed token signed with this installation's secret (the data dir's, or
    BROKERCARE_SECRET_KEY): only a process on the platform's host can mint one."""
    from sqlalchemy.orm import Session

    from brokercare.core.database import get_engine
    from brokercare.core.domains import load_all_models
    from brokercare.security.service import service_token

    load_all_models()
    with Session(get_engine()) as session:
        return service_token(session, "market_feed")


def register(app: typer.Typer) -> None:
    app.add_typer(market_app, name="market")
