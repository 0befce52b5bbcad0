"""``brokercare users ...`` and ``brokercare keys ...``."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from brokercare.core.errors import DomainError

# Each command imports the services it runs when it runs: every ``brokercare`` call loads every
# domain's CLI module, and keeping SQLAlchemy, Polars and the solvers out of them starts it at once.

console = Console()
users_app = typer.Typer(help="Staff and customer logins.", no_args_is_help=True)
keys_app = typer.Typer(help="Field-encryption data keys: status, rotation, retirement.", no_args_is_help=True)


def _models() -> None:
    """Every domain's tables, so foreign keys (users → customers) resolve outside the API."""
    from brokercare.core.domains import load_all_models

    load_all_models()


def _fail(exc: DomainError) -> None:
    console.print(f"[red]{exc.detail}[/red]")
    raise typer.Exit(code=1)


@users_app.command("create")
def users_create(
    username: str = typer.Option(..., help="Login name (3-64 letters, digits, _ . @ -)."),
    role: str = typer.Option(..., help="agent, advisor, customer_manager, risk, compliance, admin, team_lead or customer."),
    display_name: str = typer.Option(None, help="Name shown in the workbench (default: the username)."),
    customer_id: int = typer.Option(None, help="For role customer: the customer this login belongs to."),
    skills: str = typer.Option("", help="Comma-separated routing skills, e.g. trading,margin."),
    branch_code: str = typer.Option(None, help="Branch (营业部) code."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create a login. Without --password-stdin the password is prompted for twice."""
    from brokercare.core.database import session_scope
    from brokercare.security.service import create_user
    from brokercare.service import service as hub

    _models()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope() as session:
            user = create_user(
                session, username=username, password=password, role=role,
                display_name=display_name or username, customer_id=customer_id, branch_code=branch_code,
            )
            if role != "customer":
                hub.set_agent_profile(session, user.id, skills=[s.strip() for s in (skills or "").split(",")])
            uid = user.id
    except DomainError as exc:
        _fail(exc)
    console.print(f"[green]Created[/green] user {username} (id {uid}, role {role})")


@users_app.command("list")
def users_list(
    role: str = typer.Option(None, help="Only this role."),
    all_: bool = typer.Option(False, "--all", help="Include deactivated logins."),
) -> None:
    """List logins."""
    from brokercare.core.database import session_scope
    from brokercare.security.policy import ROLE_LABELS
    from brokercare.security.service import list_users
    from brokercare.service import service as hub

    _models()
    try:
        with session_scope() as session:
            rows = list_users(session, role=role, include_inactive=all_)
            profiles = hub.agent_profiles(session, [u.id for u in rows])
            table = Table("id", "username", "name", "role", "customer", "skills", "active")
            for u in rows:
                table.add_row(str(u.id), u.username, u.display_name, f"{u.role} ({ROLE_LABELS[u.role]})",
                              str(u.customer_id or ""), ",".join(profiles[u.id].skills or []),
                              "yes" if u.active else "no")
    except DomainError as exc:
        _fail(exc)
    console.print(table)
    console.print(f"{len(rows)} users")


@users_app.command("totp")
def users_totp(username: str = typer.Option(..., help="The login that gets a new authenticator.")) -> None:
    """Bind a new TOTP authenticator (RFC 6238) to a login and print its otpauth:// URI once (show
    it as a QR code to its owner; an operator bootstraps compliance and admin logins this way)."""
    from brokercare.core.database import session_scope
    from brokercare.security import stepup
    from brokercare.security.service import get_user_by_username

    _models()
    with session_scope() as session:
        user = get_user_by_username(session, username)
        if user is None:
            console.print(f"[red]no login {username!r}[/red]")
            raise typer.Exit(code=1)
        uri = stepup.enroll(session, user)
    typer.echo(uri)


@users_app.command("service-token")
def users_service_token(
    role: str = typer.Option(..., help="A service role: market_feed (quotes) or event_feed (POST /api/v1/events)."),
    days: int = typer.Option(30, min=1, max=365, help="How long the token is valid."),
) -> None:
    """Print a bearer token for a gateway's service login (the trading system's event feed, a
    market-data gateway). Give it to that system only; logging the service login out revokes it."""
    from brokercare.core.database import session_scope
    from brokercare.security.service import service_token

    _models()
    try:
        with session_scope() as session:
            token = service_token(session, role, minutes=days * 24 * 60)
    except DomainError as exc:
        _fail(exc)
    typer.echo(token)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(keys_app, name="keys")
    # keys_cli adds its commands to keys_app and imports this module: loaded once this one is.
    from brokercare.security import keys_cli  # noqa: F401
