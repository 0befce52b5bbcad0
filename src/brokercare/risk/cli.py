"""``brokercare risk scenarios|eval|score|calibrate``: labelled scenarios, the detector's
evaluation, batch scoring of an event file, and the population baselines of a broker's history."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from brokercare.risk import batch, evaluation, scenarios
from brokercare.risk.rules import load_rules

console = Console()
risk_app = typer.Typer(help="Account risk control: scenarios, evaluation, batch scoring.", no_args_is_help=True)


@risk_app.command("scenarios")
def scenarios_cmd(
    customers: int = typer.Option(2000, "--customers", min=10, help="Customers to simulate."),
    seed: int = typer.Option(1, "--seed", help="Random seed (the rules were tuned on seed 7)."),
    out: Path = typer.Option(..., "--out", help="Event file to write (.csv or .parquet)."),
    days: int = typer.Option(90, "--days", min=2, help="Days of history."),
    eval_days: int = typer.Option(30, "--eval-days", min=1, help="Last days holding the attacks."),
) -> None:
    """Write a labelled event history: normal behaviour per segment plus injected attacks."""
    started = time.perf_counter()
    with console.status(f"Simulating {customers:,} customers over {days} days…"):
        frame = scenarios.generate(customers, seed, days=days, eval_days=eval_days)
        scenarios.write(frame, str(out))
    kinds = frame.filter(pl.col("label") == 1).group_by("kind").len().sort("kind")
    console.print(f"[green]{len(frame):,} events[/green] for {customers:,} customers (seed {seed}) → {out} "
                  f"in {time.perf_counter() - started:.1f} s")
    for kind, n in kinds.iter_rows():
        console.print(f"  {kind}: {n:,} attack events")


@risk_app.command("eval")
def eval_cmd(
    data: Path = typer.Option(..., "--data", exists=True, help="A labelled event file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    rules: Path | None = typer.Option(None, "--rules", exists=True, help="Another rules YAML."),
) -> None:
    """Precision, recall and false-positive rate per scenario kind and overall."""
    frame = scenarios.read(str(data))
    chosen = load_rules(rules) if rules else load_rules()
    report = evaluation.evaluate(frame, rules=chosen)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    table = Table("kind", "precision", "recall", "fpr", "attacks", title=f"Risk detector on {data.name}")
    for kind, r in report["per_kind"].items():
        table.add_row(kind, str(r["precision"]), str(r["recall"]), str(r["fpr"]), str(r["positives"]))
    table.add_row("overall", str(report["precision"]), str(report["recall"]), str(report["fpr"]),
                  str(report["positives"]))
    console.print(table)
    met = "[green]met[/green]" if report["targets"]["met"] else "[red]missed[/red]"
    console.print(f"Takeover logins caught: {report['takeover_login_recall']}; normal logins stepped up: "
                  f"{report['normal_login_step_up_rate']} — targets {met}. "
                  f"{report['events_scored']:,} events scored in {report['scoring_seconds']} s.")


@risk_app.command("score")
def score_cmd(
    data: Path = typer.Option(..., "--data", exists=True, help="An event file (.csv or .parquet)."),
    out: Path = typer.Option(..., "--out", help="Where to write it with score, action, signal_mask."),
) -> None:
    """Score a file of historical events in one vectorised pass."""
    frame = scenarios.read(str(data))
    started = time.perf_counter()
    scored = batch.score_frame(frame)
    seconds = time.perf_counter() - started
    scenarios.write(scored, str(out))
    counts = dict(scored.group_by("action").len().iter_rows())
    console.print(f"{len(scored):,} events in {seconds:.2f} s ({len(scored) / max(seconds, 1e-9):,.0f}/s): {counts} → {out}")


@risk_app.command("calibrate")
def calibrate_cmd(data: Path = typer.Option(..., "--data", exists=True, help="A broker's event history.")) -> None:
    """Print the population baselines of a history, to paste into the rules' "population"."""
    frame = scenarios.read(str(data))
    if "label" in frame.columns:
        frame = frame.filter(pl.col("label") == 0)
    logins = frame.filter(pl.col("type") == "login")
    hours = ((logins["occurred_at"].dt.epoch("s") + 8 * 3600) // 3600 % 24).value_counts()
    share = [0.0] * 24
    for h, n in hours.iter_rows():
        share[int(h)] = n / len(logins)
    moves = frame.filter(pl.col("type").is_in(["transfer_in", "transfer_out"]) & (pl.col("amount") > 0))
    logs = moves.with_columns(pl.col("amount").log().alias("x"))
    med = float(logs["x"].median())
    mad = float((logs["x"] - med).abs().median())
    spread = logs.with_columns((pl.col("x") - pl.col("x").median().over("customer_id")).abs().alias("d"))
    typer.echo(json.dumps({
        "login_hour_share": [round(s, 4) for s in share],
        "transfer_log_median": round(med, 3), "transfer_log_mad": round(mad, 3),
        "transfer_log_spread": round(float(spread["d"].median()), 3),
        "logins": len(logins), "transfers": len(moves),
        "median_transfer_yuan": round(math.exp(med)),
    }, ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(risk_app, name="risk")
