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


@advise_app.command("models")
def models_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print level -> {asset class -> weight} as JSON."),
    normal: bool = typer.Option(False, "--assume-normal", help="Show the models without the high-volatility cut."),
) -> None:
    """Print each risk level's model portfolio and the volatility regime it assumed."""
    from rich.table import Table

    from brokercare.advisory import portfolios
    from brokercare.advisory.series import CLASS_NAMES

    models = portfolios.build(high_volatility=False) if normal else portfolios.current_models()
    regime = next(iter(models.values())).regime
    if as_json:
        payload: dict = {lv: {k: round(v, 4) for k, v in m.weights.items()} for lv, m in models.items()}
        payload["regime"] = regime.to_dict()
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Model portfolios — regime {regime.label} (20-day vol {regime.realised_vol:.1%}, "
                        f"percentile {regime.percentile:.0%}, as of {regime.as_of})")
    classes = list(next(iter(models.values())).weights)
    table.add_column("level")
    for c in classes:
        table.add_column(c, justify="right")
    table.add_column("exp. return", justify="right")
    table.add_column("exp. vol", justify="right")
    for lv, m in models.items():
        table.add_row(lv, *[f"{m.weights[c]:.1%}" for c in classes], f"{m.expected_return:.2%}", f"{m.volatility:.2%}")
    console.print(table)
    console.print("  ".join(f"{k} = {v}" for k, v in CLASS_NAMES.items()))


@advise_app.command("backtest")
def backtest_cmd(
    out: str = typer.Option("", "--out", help="Report folder (default: <data dir>/reports/advisory)."),
) -> None:
    """Walk-forward backtest of every model; writes a Markdown report with charts."""
    from pathlib import Path

    from rich.progress import Progress

    from brokercare.advisory import backtest
    from brokercare.core.settings import get_settings

    target = Path(out) if out else get_settings().data_dir / "reports" / "advisory"
    with Progress(transient=True) as progress:
        task = progress.add_task("Backtesting model portfolios", total=2)
        result = backtest.run()
        progress.advance(task)
        path = backtest.write_report(target, result)
        progress.advance(task)
    for lv in ("C1", "C2", "C3", "C4", "C5"):
        m = result.metrics[lv]
        console.print(f"{lv}: return {m.annual_return:.2%}/yr, vol {m.volatility:.2%}, "
                      f"max drawdown {m.max_drawdown:.2%}, Sharpe {m.sharpe:.2f}")
    console.print(f"[green]Report written:[/green] {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(advise_app, name="advise")
