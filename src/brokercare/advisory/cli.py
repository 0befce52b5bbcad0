"""``brokercare advise ...``: suitability checks, the risk questionnaire, model portfolios, proposals."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from brokercare.core.errors import DomainError

advise_app = typer.Typer(help="Robo-advisor: suitability, questionnaire, model portfolios.", no_args_is_help=True)
console = Console()

_STYLE = {"allow": "green", "warn_confirm": "yellow", "refuse": "red"}


def _fail(exc: DomainError) -> None:
    console.print(f"[red]Invalid input:[/red] {exc.detail}")
    raise typer.Exit(2)


@advise_app.command("check")
def check_cmd(
    investor: str = typer.Option(..., "--investor", help="C1..C5 or professional."),
    product: str = typer.Option(..., "--product", help="Product risk level R1..R5."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
) -> None:
    """Match an investor category to a product risk level and print what the customer would see."""
    from brokercare.advisory.suitability import check

    try:
        result = check(investor, product)
    except DomainError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    style = _STYLE[result.decision]
    console.print(f"[bold {style}]{result.decision}[/bold {style}]  {result.investor} → {result.product_risk}"
                  f"  (suitable: {result.suitable_range})")
    console.print(result.message)


def register(app: typer.Typer) -> None:
    app.add_typer(advise_app, name="advise")
