"""``brokercare profiles …`` and ``brokercare customers …``: the CDP from the command line.

Operators run these; personal data is always shown masked here (the API shows it whole to
cleared roles, with an audit trail).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# Each command imports the services it runs when it runs: every ``brokercare`` call loads every
# domain's CLI module, and keeping SQLAlchemy, Polars and the solvers out of them starts it at once.

console = Console()
profiles_app = typer.Typer(help="Customer profiles: features, tags, tiers and life stages.",
                           no_args_is_help=True)
customers_app = typer.Typer(help="Look up customers.", no_args_is_help=True)


@profiles_app.command("compute")
def compute(
    workers: int = typer.Option(2, help="Worker processes (1: compute in this process)."),
    partition_size: int = typer.Option(50_000, min=1, help="Customers per partition (smaller keeps both workers busy to the end)."),
) -> None:
    """Compute every customer's profile in bulk and record tier changes."""
    from brokercare.core.database import get_engine
    from brokercare.customers import batch
    from brokercare.customers.config import load_config

    engine = get_engine()
    compiled = load_config()
    total = batch.customer_count(engine)
    if total == 0:
        console.print("[yellow]No customers yet: load or generate some first.[/yellow]")
        raise typer.Exit(0)
    with Progress(TextColumn("[bold]Profiles"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("profiles", total=total)
        result = batch.run(engine, compiled=compiled, partition_size=partition_size, workers=workers,
                           on_partition=lambda n: progress.advance(task, n))
    cfg = compiled.config
    console.print(f"[green]{result.customers:,} profiles[/green] in {result.seconds:.1f} s "
                  f"({result.per_second:,.0f} customers/s, {result.partitions} partitions); "
                  f"config {compiled.source}")
    console.print("Tiers: " + ", ".join(f"{cfg.tier_label(t.key)} {result.tiers.get(t.key, 0):,}"
                                        for t in cfg.tiers))
    console.print(f"Tier changes: {result.tier_changes:,}; first profiles: {result.first_profiles:,}")
    top = sorted(result.tags.items(), key=lambda kv: -kv[1])[:8]
    console.print("Top tags: " + ", ".join(f"{cfg.tag_label(k)} {n:,}" for k, n in top))
    console.print("Life stages: " + ", ".join(f"{k} {n:,}" for k, n in
                                             sorted(result.life_stages.items(), key=lambda kv: -kv[1])))


@profiles_app.command("show")
def show(customer_no: str, all_features: bool = typer.Option(False, "--all", help="Every feature.")) -> None:
    """Show one customer's profile (recomputed now from the current data)."""
    from brokercare.core.database import session_scope
    from brokercare.core.errors import DomainError
    from brokercare.customers.features import BY_NAME
    from brokercare.customers.service import get_customer_by_no, refresh_profile

    try:
        with session_scope() as session:
            customer = get_customer_by_no(session, customer_no)
            profile, move = refresh_profile(session, customer.id)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"[bold]{customer.customer_no}[/bold]  tier [bold]{profile.tier_label}[/bold]"
                  f"{'  高净值' if profile.high_net_worth else ''}  AUM {profile.aum:,} 元  "
                  f"life stage {profile.life_stage or '—'}")
    if move and move.from_tier:
        console.print(f"[yellow]Tier changed: {move.from_tier} → {move.to_tier}[/yellow]")
    console.print("Tags: " + ("、".join(t.label for t in profile.tags) or "—"))
    table = Table("feature", "中文", "value", "class")
    for name, value in profile.features.items():
        if all_features or value not in (None, 0, 0.0, False):
            f = BY_NAME[name]
            table.add_row(name, f.label, str(value), str(f.data_class))
    console.print(table)


@profiles_app.command("features")
def features(markdown: bool = typer.Option(False, help="Print the registry as a Markdown table.")) -> None:
    """List the feature registry."""
    from brokercare.customers.features import FEATURES, markdown_table

    if markdown:
        typer.echo(markdown_table())
        return
    table = Table("#", "feature", "中文", "type", "source", "cadence", "class")
    for i, f in enumerate(FEATURES, 1):
        table.add_row(str(i), f.name, f.label, f.type, f.source, f.cadence, str(f.data_class))
    console.print(table)
    console.print(f"{len(FEATURES)} features")


@profiles_app.command("check-config")
def check_config(path: Path = typer.Argument(None, help="File to check (default: the one in use).")) -> None:
    """Parse the tier, life-stage and tag rules and report the first error."""
    from brokercare.core.errors import DomainError
    from brokercare.customers.config import config_path, load_config

    path = path or config_path()
    try:
        compiled = load_config(path)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    cfg = compiled.config
    console.print(f"[green]OK[/green] {path}: {len(cfg.tiers)} tiers, {len(cfg.life_stages)} life-stage "
                  f"rules, {len(cfg.tags)} tags")


@profiles_app.command("watch")
def watch() -> None:
    """Recompute profiles as events arrive (with BROKERCARE_BUS_URL=redis://…); Ctrl-C stops."""
    from brokercare.core.bus import get_bus
    from brokercare.customers import handlers

    bus = get_bus()
    if not hasattr(bus, "run"):
        console.print("[red]The in-process bus has no consumer loop: set BROKERCARE_BUS_URL to a Redis "
                      "URL, or let the API process handle events itself.[/red]")
        raise typer.Exit(1)
    handlers.subscribe(bus)
    console.print(f"Watching {', '.join(handlers.TRIGGERS)} …")
    try:
        bus.run()
    except KeyboardInterrupt:
        console.print("stopped")


@customers_app.command("show")
def customer_show(customer_no: str) -> None:
    """A customer's identity (personal data masked), accounts and holdings."""
    from brokercare.accounts.service import accounts_of, positions_of
    from brokercare.core.database import session_scope
    from brokercare.core.errors import DomainError
    from brokercare.customers.service import get_customer_by_no
    from brokercare.security.service import get_cipher, mask_id_number, mask_name, mask_phone

    try:
        with session_scope() as session:
            c = get_customer_by_no(session, customer_no)
            cipher = get_cipher(session)
            accounts = accounts_of(session, c.id)
            positions = positions_of(session, c.id)
            console.print(f"[bold]{c.customer_no}[/bold] {mask_name(c.name)}  {c.gender}  "
                          f"{c.city}  {c.occupation}  branch {c.branch_code}  risk {c.risk_level or '—'}")
            console.print(f"ID {mask_id_number(cipher.decrypt(c.id_number_enc))}  phone "
                          f"{mask_phone(cipher.decrypt(c.phone_enc))}  opened {c.opened_on}  {c.status}")
            acct = Table("account", "kind", "status", "cash", "frozen")
            for a in accounts:
                acct.add_row(a.account_no, a.kind, a.status, f"{a.cash_balance:,}", f"{a.frozen_cash:,}")
            console.print(acct)
            pos = Table("symbol", "name", "qty", "cost", "price", "value", "P&L")
            for p in positions:
                pos.add_row(p.symbol, p.name, f"{p.quantity:,}", str(p.cost_price), str(p.last_price),
                            f"{p.market_value:,}", f"{p.pnl:,}")
            console.print(pos)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(customers_app, name="customers")


