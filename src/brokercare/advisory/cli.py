"""``brokercare advise ...``: suitability checks, the risk questionnaire, model portfolios, proposals."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from brokercare.core.errors import DomainError

# Each command imports the services it runs when it runs: every ``brokercare`` call loads every
# domain's CLI module, and keeping SQLAlchemy, Polars and the solvers out of them starts it at once.

advise_app = typer.Typer(help="Robo-advisor: suitability, questionnaire, model portfolios.", no_args_is_help=True)
console = Console()

_STYLE = {"allow": "green", "warn_confirm": "yellow", "refuse": "red"}


def _fail(exc: DomainError) -> None:
    console.print(f"[red]{exc.title}:[/red] {exc.detail}")
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
    from brokercare.advisory import portfolios
    from brokercare.advisory.series import CLASS_NAMES

    models = portfolios.build(high_volatility=False) if normal else portfolios.current_models()
    regime = next(iter(models.values())).regime
    if as_json:
        payload: dict = {lv: {k: round(v, 4) for k, v in m.weights.items()} for lv, m in models.items()}
        payload["regime"] = regime.to_dict()
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    assumed = "assumed normal; measured" if normal else "regime"
    table = Table(title=f"Model portfolios — {assumed} 20-day vol {regime.realised_vol:.1%} "
                        f"(percentile {regime.percentile:.0%}, as of {regime.as_of}): {regime.label}")
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


@advise_app.command("assess")
def assess_cmd(
    customer: int = typer.Option(..., "--customer", help="Customer id."),
    answers: str = typer.Option(..., "--answers", help="Comma list, e.g. age=B,income=C,... (13 questions)."),
    round_: int = typer.Option(1, "--round", help="2 when answering the clarification questions."),
    channel: str = typer.Option("branch", help="Channel recorded with the assessment."),
) -> None:
    """Score a risk questionnaire for a customer and store the result (C1-C5, valid 24 months).

    On the in-process bus this command is the only process listening, so the customers domain's
    handlers are subscribed here: the customer's risk level and profile follow the assessment.
    """
    from brokercare.advisory import questionnaire
    from brokercare.core.bus import InProcessBus, get_bus
    from brokercare.core.database import session_scope
    from brokercare.customers.service import subscribe_handlers

    if isinstance(get_bus(), InProcessBus):
        subscribe_handlers()

    try:
        parsed = dict(item.split("=", 1) for item in answers.split(",") if item.strip())
    except ValueError:
        console.print("[red]Invalid input:[/red] --answers must look like age=B,income=C,...")
        raise typer.Exit(2) from None
    try:
        with session_scope() as session:
            result = questionnaire.assess(session, customer, parsed, round_=round_, channel=channel)
    except DomainError as exc:
        _fail(exc)
    if result.status != "complete":
        console.print("[yellow]Some answers contradict each other; ask again (then use --round 2):[/yellow]")
        for c in result.clarifications:
            console.print(f"• {c.prompt}")
            for q in c.questions:
                console.print(f"    {q['id']}: {q['text']}  " + "  ".join(f"{o['key']}.{o['text']}" for o in q["options"]))
        return
    console.print(f"[green]{result.level_name}[/green] (score {result.score}/100)" +
                  (f"  notes: {'; '.join(result.notes)}" if result.notes else ""))


@advise_app.command("rebalance")
def rebalance_cmd(
    customer: int = typer.Option(0, "--customer", help="One customer: print their proposal and explanation."),
    out: str = typer.Option("", "--out", help="Batch output folder (default: <data dir>/reports/advisory)."),
    scheduler: str = typer.Option("", "--dask-scheduler", help="Run the batch on this Dask scheduler address."),
    partition_size: int = typer.Option(50_000, help="Customers per partition."),
    as_json: bool = typer.Option(False, "--json", help="Print one customer's advice as JSON."),
) -> None:
    """Rebalancing proposals: one customer's, or the nightly batch for every customer."""
    from brokercare.advisory import service
    from brokercare.core.database import session_scope
    from brokercare.core.settings import get_settings

    try:
        with session_scope() as session:
            if customer:
                advice = service.rebalance_advice(session, customer)
                if as_json:
                    typer.echo(json.dumps(advice.to_dict(), ensure_ascii=False, indent=2))
                else:
                    console.print(f"[bold]{advice.status}[/bold] level {advice.level} drift {advice.drift:.1%}")
                    console.print(advice.text)
                return
            client = None
            if scheduler:
                from dask.distributed import Client  # only for a cluster run: dask is slow to load

                client = Client(scheduler)
            target = Path(out) if out else get_settings().data_dir / "reports" / "advisory"
            with Progress(transient=True) as progress:
                task = progress.add_task("Proposals", total=None)
                summary = service.nightly(session, target, client=client, partition_size=partition_size,
                                          progress=lambda: progress.advance(task))
            if client is not None:
                client.close()
    except DomainError as exc:
        _fail(exc)
    console.print(f"{summary.customers:,} customers: {summary.rebalance:,} to rebalance, "
                  f"{summary.reassess:,} need a new risk assessment; {summary.trades:,} trades, "
                  f"buys {summary.buy_amount:,.0f} 元, sells {summary.sell_amount:,.0f} 元, fees {summary.fees:,.2f} 元")
    console.print(f"[green]Written:[/green] {summary.path}")


@advise_app.command("goal")
def goal_cmd(
    kind: str = typer.Option(..., help="education, retirement, house or target_return."),
    target: float = typer.Option(..., help="Target amount in 元."),
    years: float = typer.Option(..., help="Years to the goal."),
    initial: float = typer.Option(0.0, help="Money invested now (元)."),
    monthly: float = typer.Option(0.0, help="Monthly contribution (元)."),
    investor: str = typer.Option("C3", help="The customer's risk level (caps the glide path)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Monte Carlo probability of reaching a goal on its glide path, with adjustments when off track."""
    from brokercare.advisory import goals

    try:
        proj = goals.project(goals.Goal(kind, target, years, initial, monthly, investor))
    except DomainError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(proj.to_dict(), ensure_ascii=False, indent=2))
        return
    console.print(proj.message)
    console.print("glide: " + " → ".join(f"{g['level']} (month {g['from_month']})" for g in proj.glide))
    for a in proj.adjustments:
        console.print(f"• {a.message}")


@advise_app.command("goals-review")
def goals_review_cmd() -> None:
    """Re-project every active customer goal with today's data (nightly progress check)."""
    from brokercare.advisory import service
    from brokercare.core.database import session_scope

    with session_scope() as session, Progress(transient=True) as progress:
        task = progress.add_task("Reviewing goals", total=None)
        counts = service.review_goals(session, progress=lambda: progress.advance(task))
    console.print(", ".join(f"{k}: {v}" for k, v in counts.items()))


@advise_app.command("package")
def package_cmd(
    key: str = typer.Argument(..., help="steady_5pct_1y, education or retirement."),
    investor: str = typer.Option("C3", help="The customer's risk level."),
    years_left: float = typer.Option(0.0, help="Years to tuition or retirement (life-stage packages)."),
) -> None:
    """Show a scenario package's allocation and its checks for a risk level."""
    from brokercare.advisory import packages

    try:
        plan = packages.plan(key, investor, years_left=years_left or None)
    except DomainError as exc:
        _fail(exc)
    console.print(f"[bold]{plan.name}[/bold] ({plan.level})  {plan.content}")
    for sym, w in plan.allocation.items():
        console.print(f"  {w:>5.0%}  {sym}  {plan.to_dict()['products'][sym]}")
    for c in plan.checks:
        console.print(f"  [{'green' if c.passed else 'red'}]{'✓' if c.passed else '✗'}[/] {c.message}")


def register(app: typer.Typer) -> None:
    app.add_typer(advise_app, name="advise")
