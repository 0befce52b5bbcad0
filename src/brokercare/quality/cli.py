"""``brokercare report quality --month 2026-11 --out DIR``: the monthly service-quality report on
demand (the scheduled ``quality.monthly_report`` runs the same code and also mails it); and
``brokercare quality churn train|eval|top``: the churn model by hand (the nightly
``quality.churn_rescore`` runs the same code)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from brokercare.core.cli import report_group

console = Console()
quality_app = typer.Typer(help="Service quality: the churn-risk model.", no_args_is_help=True)
churn_app = typer.Typer(help="Churn risk: train and evaluate the model, score, list the top risks.",
                        no_args_is_help=True)
quality_app.add_typer(churn_app, name="churn")


def quality_report(
    month: str = typer.Option(..., "--month", help="Month, YYYY-MM (Beijing time)."),
    out: Path = typer.Option(..., "--out", help="Directory; writes quality-<month>.html and .pdf."),
) -> None:
    """Write the monthly service-quality report (KPIs, trends, SLA breaches, complaint themes)."""
    from brokercare.core.database import session_scope
    from brokercare.core.domains import load_all_models
    from brokercare.core.errors import DomainError
    from brokercare.quality import report, service

    load_all_models()
    try:
        with console.status(f"Computing the KPIs of {month}…"), session_scope() as session:
            kpis = service.month_kpis(session, month)
            html_path, pdf_path = report.write(kpis, out, report.gather(session, kpis))
    except DomainError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    o = kpis.overall
    console.print(f"[green]Service-quality report {month}[/green]: {o['conversations']:,} conversations, "
                  f"{o['sla_breaches']} SLA breaches, {o['complaints']} complaints → {html_path} and {pdf_path}")


def _print_evaluation(ev) -> None:
    table = Table("", "model (gradient boosting)", "rules baseline")
    table.add_row("AUC", f"{ev.auc_model:.3f}", f"{ev.auc_rules:.3f}")
    table.add_row("precision, top 5 %", f"{ev.precision_top_model:.1%}", f"{ev.precision_top_rules:.1%}")
    console.print(table)
    console.print(f"evaluated at {ev.eval_cutoff:%Y-%m-%d}: {ev.eval_rows:,} customers, {ev.eval_left} left "
                  f"(base rate {ev.base_rate:.1%}); trained on {ev.train_rows:,} rows ({ev.train_left} left) "
                  f"of cut-offs {', '.join(f'{c:%Y-%m-%d}' for c in ev.train_cutoffs)}")


def _run(work):
    from brokercare.core.database import session_scope
    from brokercare.core.domains import load_all_models
    from brokercare.core.errors import DomainError

    load_all_models()
    try:
        with session_scope() as session:
            return work(session)
    except DomainError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@churn_app.command("eval")
def churn_eval() -> None:
    """Train on the earlier cut-offs and measure on the latest complete one, beside the rules."""
    from brokercare.quality import churn_model

    _print_evaluation(_run(lambda s: churn_model.evaluate(s)[0]))


@churn_app.command("train")
def churn_train(score: bool = typer.Option(True, help="Also score every active customer now.")) -> None:
    """Evaluate, train the kept model on all cut-offs, save it, and (by default) score tonight's risks."""
    from brokercare.quality import churn_model

    def work(session):
        trained = churn_model.train(session)
        path = churn_model.save(trained)
        return trained, path, churn_model.score(session, trained) if score else None

    trained, path, scored = _run(work)
    _print_evaluation(trained.evaluation)
    console.print(f"[green]model saved[/green] to {path}")
    if scored:
        console.print(f"scored {scored['scored']:,} customers on {scored['day']} ({scored['top']:,} in the top 5 %)")


@churn_app.command("top")
def churn_top(manager: int | None = typer.Option(None, "--manager", help="One manager's user id (default: all)."),
              limit: int = typer.Option(20, "--limit", min=1, max=1000)) -> None:
    """The latest night's riskiest customers with the reasons."""
    from brokercare.quality import churn_model

    rows = _run(lambda s: [(r.customer_id, r.manager_id, r.score, r.reasons)
                           for r in churn_model.top_risks(s, manager_id=manager, limit=limit)])
    if not rows:
        console.print("no scores yet: run `brokercare quality churn train`")
        return
    table = Table("customer", "manager", "risk", "reasons")
    for cid, mid, risk, why in rows:
        table.add_row(str(cid), str(mid or "—"), f"{risk:.1%}", "；".join(why))
    console.print(table)


def register(app: typer.Typer) -> None:
    report_group(app).command("quality")(quality_report)
    app.add_typer(quality_app, name="quality")
