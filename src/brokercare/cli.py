"""The ``brokercare`` command. Each domain adds its commands through ``<domain>/cli.py``."""

from __future__ import annotations

import typer
from rich.console import Console

from brokercare.core.domains import domain_modules
from brokercare.core.settings import reset_settings

app = typer.Typer(
    name="brokercare",
    help="BrokerCare: service hub, assistant, advisory and monitoring for a securities brokerage.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


@app.callback()
def _assemble() -> None:
    # The composition root of every command: the service hub answers with the assistant (the
    # routing worker, the SLA sweep, the scheduled jobs, the demo generator). Wired when a command
    # runs, not on import: `serve --workers N` re-imports this module in each worker process,
    # which must answer the supervisor's health checks within seconds.
    from brokercare.assistant import service as assistant_service
    from brokercare.service import service as hub

    hub.wire_assistant(assistant_service, replace=False)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads", help="Target revision (default: latest).")) -> None:
    """Create or migrate the schema to the latest revision."""
    from brokercare.core import migrate
    from brokercare.core.database import get_engine

    with get_engine().begin() as conn:
        migrate.upgrade(conn, revision)
    console.print(f"[green]Database at {revision}[/green]: {get_engine().url.render_as_string()}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base or -1.")) -> None:
    """Undo migrations down to REVISION."""
    from brokercare.core import migrate
    from brokercare.core.database import get_engine

    with get_engine().begin() as conn:
        migrate.downgrade(conn, revision)
    console.print(f"[yellow]Database downgraded to {revision}[/yellow]")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="Worker processes (PostgreSQL deployments)."),
) -> None:
    """Run the API and the web pages; the day's jobs and the outbox dispatcher too, unless
    BROKERCARE_SCHEDULER=off / BROKERCARE_DISPATCHER=off."""
    import os

    import uvicorn

    from brokercare.core import logs

    # The schedule and the outbox dispatcher run in-process unless the environment says otherwise
    # (docs/jobs.md, docs/deployment.md); worker processes inherit the settings.
    os.environ.setdefault("BROKERCARE_SCHEDULER", "embedded")
    os.environ.setdefault("BROKERCARE_DISPATCHER", "embedded")
    reset_settings()

    uvicorn.run("brokercare.api:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=logs.dict_config())


for module in domain_modules("cli"):
    module.register(app)



def main() -> None:
    app()


if __name__ == "__main__":
    main()
