"""``brokercare outbox dispatch|list|retry|status``: run the dispatcher and look after the outbox.

The domain's modules are imported inside the commands: ``brokercare`` loads every domain's CLI at
start-up, and the dispatcher pulls in the customers service (pandas, polars) that other commands
do not need.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal

import typer
from rich.console import Console
from rich.table import Table

console = Console()
outbox_app = typer.Typer(help="Outbound messages (app push, SMS, WeChat, e-mail).", no_args_is_help=True)


@outbox_app.callback()
def _models() -> None:
    """Outbound messages (app push, SMS, WeChat, e-mail)."""
    from brokercare.core.domains import load_all_models

    load_all_models()


@outbox_app.command("dispatch")
def dispatch_cmd(
    once: bool = typer.Option(False, "--once", help="Send what is due now, then exit."),
    batch: int = typer.Option(None, "--batch", min=1, max=10_000,
                              help="Messages claimed per pass (default BROKERCARE_OUTBOX_BATCH)."),
    idle: float = typer.Option(0.5, "--idle", min=0.01, help="Seconds to wait when nothing is due."),
) -> None:
    """Send due messages through the configured channels; runs until SIGTERM/Ctrl-C unless --once."""
    from brokercare.core import logs
    from brokercare.core.database import session_factory
    from brokercare.outbox.dispatcher import Dispatcher, dispatch_due

    logs.configure(logging.INFO)
    if once:
        counts = dispatch_due(session_factory(), batch=batch, limit=10**9)  # all that is due
        typer.echo(json.dumps(counts))
        return

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        dispatcher = Dispatcher(session_factory())
        configured = ", ".join(sorted(dispatcher.adapters)) or "none"
        logging.getLogger(__name__).info("outbox dispatcher started; channels configured: %s", configured)
        try:
            total = await dispatcher.run(batch=batch, idle_s=idle, stop=stop)
        finally:
            await dispatcher.aclose()
        logging.getLogger(__name__).info("outbox dispatcher stopped: %s", total.as_dict())

    asyncio.run(main())


@outbox_app.command("list")
def list_cmd(
    state: str = typer.Option(None, "--state", help="pending, sending, sent, failed or dead."),
    channel: str = typer.Option(None, "--channel", help="app, sms, wechat or email."),
    origin: str = typer.Option(None, "--origin", help="The domain that wrote it, e.g. service."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Messages newest first, with their state, tries, last error and what they belong to."""
    from brokercare.core.database import session_scope
    from brokercare.core.errors import DomainError
    from brokercare.outbox import service

    try:
        with session_scope() as session:
            rows = service.list_messages(session, state=state, channel=channel, origin=origin,
                                         limit=limit)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(code=2) from exc
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
        return
    table = Table("id", "channel", "kind", "to", "state", "tries", "created (UTC)", "origin", "error / note")
    for r in rows:
        table.add_row(str(r.id), r.channel, r.kind, r.address_hint or f"customer {r.customer_id}",
                      r.state, str(r.attempts), f"{r.created_at:%Y-%m-%d %H:%M:%S}",
                      f"{r.origin} {r.origin_ref or ''}".strip(), (r.last_error or r.note or "")[:80])
    console.print(table)


@outbox_app.command("retry")
def retry_cmd(message_ids: list[int] = typer.Argument(..., help="Ids of failed or dead messages.")) -> None:
    """Send failed or dead messages again, from their first try."""
    from brokercare.core.database import session_scope
    from brokercare.core.errors import DomainError
    from brokercare.outbox import service

    failed = False
    for mid in message_ids:
        try:
            with session_scope() as session:
                view = service.retry(session, mid)
            console.print(f"message {mid}: {view.state}, {view.note or ''}")
        except DomainError as exc:
            console.print(f"[red]message {mid}: {exc.detail}[/red]")
            failed = True
    if failed:
        raise typer.Exit(code=1)


@outbox_app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Per channel: configured or not, messages waiting, being sent, failing and dead."""
    from brokercare.core.database import session_scope
    from brokercare.outbox import service

    with session_scope() as session:
        rows = service.summary(session)
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    table = Table("channel", "configured", "pending", "sending", "failed", "dead", "oldest due")
    for r in rows:
        table.add_row(r.channel, "yes" if r.configured else f"[yellow]no: set {r.setting}[/yellow]",
                      *(str(r.counts.get(s, 0)) for s in ("pending", "sending", "failed", "dead")),
                      "-" if r.oldest_due_s is None else f"{r.oldest_due_s:,.0f} s")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")
