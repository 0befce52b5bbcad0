"""``brokercare funds load-nav|confirm|orders``: the fund companies' NAV file, the T+1 confirmation
run by hand (the schedule runs it at 09:00 and 16:00), and a customer's fund orders
(docs/funds.md). Every command loads this module, so the database layer is imported when a
command runs."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
funds_app = typer.Typer(help="OTC fund orders: NAV files and the T+1 confirmation.", no_args_is_help=True)


@funds_app.command("load-nav")
def load_nav_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="A NAV file: fund_code,nav_date,unit_nav (CSV, UTF-8 or GBK)."),
) -> None:
    """Load a NAV file (all rows or none); loading it again changes nothing."""
    from brokercare.accounts import fund_confirmation  # deferred: see the module docstring
    from brokercare.core.database import session_scope

    rows = fund_confirmation.read_nav_file(file)
    with session_scope() as session:
        counts = fund_confirmation.load_navs(session, rows, source=file.name)
    days = sorted({r.nav_date for r in rows})
    span = f"{days[0]} … {days[-1]}" if days else "no rows"
    console.print(f"[green]{file.name}[/green]: {counts['rows']:,} NAVs ({span}), "
                  f"{counts['added']:,} new, {counts['corrected']:,} corrected")


@funds_app.command("confirm")
def confirm_cmd(
    day: datetime | None = typer.Option(None, "--date", formats=["%Y-%m-%d"],
                                        help="Business day to confirm for (default: today, Beijing)."),
) -> None:
    """Confirm every placed order whose NAV day is before the day and whose NAV is loaded."""
    from brokercare.accounts import fund_confirmation
    from brokercare.core.calendar import SHANGHAI
    from brokercare.core.database import session_scope

    today: date = day.date() if day else datetime.now(SHANGHAI).date()
    counts = fund_confirmation.confirm_in_batches(session_scope, today)
    failed = f", [red]{counts['failed']} failed[/red] (see `brokercare ledger show --kind fund_order.failed`)" if counts["failed"] else ""
    console.print(f"fund orders for {today}: [green]{counts['confirmed']} confirmed[/green]{failed}, "
                  f"{counts['waiting_nav']} waiting for a NAV, {counts['expired']} chat proposals expired")


@funds_app.command("orders")
def orders_cmd(customer_id: int = typer.Argument(..., help="The customer's id."),
               limit: int = typer.Option(20, min=1, max=200)) -> None:
    """A customer's fund orders, newest first."""
    from brokercare.accounts import funds
    from brokercare.core.database import session_scope

    with session_scope() as session:
        orders = funds.fund_orders_of(session, customer_id, limit=limit)
    table = Table("order", "kind", "fund", "amount / units", "NAV day", "state", "NAV", "fee",
                  title=f"Fund orders of customer {customer_id}")
    for o in orders:
        asked = f"{o.amount} 元" if o.kind == "subscribe" else f"{o.units} 份"
        table.add_row(o.order_no, o.kind_label, o.fund_name, asked, str(o.nav_day), o.state_label,
                      str(o.nav or ""), str(o.fee or ""))
    console.print(table)
    console.print(f"{len(orders)} order(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(funds_app, name="funds")
