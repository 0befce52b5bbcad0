"""``brokercare nlu ...`` and ``brokercare kb ...``: train and evaluate on a broker's own data.

Every ``brokercare`` command loads this module, and the assistant's modules bring scikit-learn,
SciPy and jieba (seconds to import): each command imports what it needs when it runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from brokercare.core.errors import DomainError

console = Console()
nlu_app = typer.Typer(help="Train, evaluate and inspect the assistant's intent and emotion models.",
                      no_args_is_help=True)
kb_app = typer.Typer(help="The assistant's knowledge base: import FAQs, search, evaluate the matcher.",
                     no_args_is_help=True)


def _fail(exc: DomainError) -> None:
    console.print(f"[red]Error:[/red] {exc.detail}")
    raise typer.Exit(2)


def _spinner() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                    transient=True)


@nlu_app.command("train")
def nlu_train(
    task: str = typer.Option(..., help="intent or emotion"),
    data: Path = typer.Option(..., exists=False, help="CSV with columns text,label (any label set)."),
    activate: bool = typer.Option(True, help="Make the new version the one the assistant uses."),
) -> None:
    """Train a new model version from a labelled CSV and store it in the data dir."""
    from brokercare.assistant import registry  # deferred: see the module docstring

    try:
        with _spinner() as progress:
            progress.add_task(f"Training {task} model on {data.name}", total=None)
            info = registry.train(task, data, activate=activate)
    except DomainError as exc:
        _fail(exc)
    state = "active" if activate else "stored (not active)"
    console.print(f"[green]{task} model {info.version}[/green] {state}: {info.n_examples} examples, "
                  f"{len(info.labels)} labels, data {info.fingerprint}, in {registry.models_dir(task) / info.version}")


@nlu_app.command("eval")
def nlu_eval(
    task: str = typer.Option(..., help="intent or emotion"),
    data: Path = typer.Option(..., help="CSV with columns text,label."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Accuracy, macro-F1, per-label precision/recall and the worst confusions of the active model."""
    from brokercare.assistant import registry  # deferred: see the module docstring
    from brokercare.assistant.classifier import evaluate, read_labelled_csv

    try:
        texts, gold = read_labelled_csv(data)
        with _spinner() as progress:
            progress.add_task(f"Evaluating the {task} model on {len(texts)} examples", total=None)
            model, info = registry.load(task)
            predicted = model.predict(texts)
    except DomainError as exc:
        _fail(exc)
    report = evaluate(gold, predicted)
    report["model"] = {"task": task, "version": info.version, "fingerprint": info.fingerprint}
    unknown = sorted(set(gold) - set(info.labels))
    if unknown:
        report["labels_unknown_to_model"] = unknown
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{task} model {info.version} on {data.name}")
    for col in ("label", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, m in sorted(report["per_label"].items(), key=lambda kv: kv[1]["f1"]):
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    console.print(table)
    if report["confusions"]:
        console.print("Worst confusions (gold → predicted):")
        for c in report["confusions"]:
            console.print(f"  {c['gold']} → {c['predicted']}: {c['count']}")
    if unknown:
        console.print(f"[yellow]Labels the model was never trained on:[/yellow] {', '.join(unknown)}")
    console.print(f"[bold]accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}[/bold] "
                  f"({report['n']} examples)")


@nlu_app.command("versions")
def nlu_versions(task: str = typer.Option(..., help="intent or emotion")) -> None:
    """List trained versions and the active one."""
    from brokercare.assistant import registry  # deferred: see the module docstring

    try:
        versions = registry.list_versions(task)
        active = registry.active_version(task)
    except DomainError as exc:
        _fail(exc)
    console.print(f"active: [bold]{active}[/bold]")
    for v in versions:
        console.print(f"  {v['version']}  {v['trained_at']}  {v['n_examples']} examples  {v['source']}")


@nlu_app.command("activate")
def nlu_activate(task: str = typer.Option(...), version: str = typer.Argument(..., help="v1, v2 ... or builtin")) -> None:
    """Switch the assistant to another stored version (builtin = the shipped training data)."""
    from brokercare.assistant import registry  # deferred: see the module docstring

    try:
        registry.activate_version(task, version)
    except DomainError as exc:
        _fail(exc)
    console.print(f"[green]{task} model {version} is now active[/green]")


@nlu_app.command("analyze")
def nlu_analyze(text: str = typer.Argument(..., help="A customer message.")) -> None:
    """Analyse one message: intents, emotion, entities (JSON)."""
    from brokercare.assistant import service  # deferred: see the module docstring

    try:
        analysis = service.analyze(text)
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps(analysis.as_dict(), ensure_ascii=False, indent=2))


@nlu_app.command("retrain")
def nlu_retrain(
    tolerance: float = typer.Option(0.005, min=0.0, max=0.2, help="How far a measure may fall before the candidate is rejected."),
    force: bool = typer.Option(False, help="Train even when the desk taught nothing new."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Train an intent model from the shipped data plus the desk's labels; promote it only if no
    measure on the frozen evaluation set gets worse beyond the tolerance."""
    from brokercare.assistant import retrain  # deferred: see the module docstring
    from brokercare.core.database import session_scope

    with _spinner() as progress:
        progress.add_task("Training and evaluating a candidate intent model", total=None)
        with session_scope() as session:
            result = retrain.retrain(session, tolerance=tolerance, force=force)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    console.print(f"desk pool: {result.pool_rows} labelled sentences used, {result.excluded} left out "
                  "(they repeat an evaluation set)")
    if result.outcome == "unchanged":
        console.print(f"[dim]nothing new to learn; {result.active} stays active[/dim]")
        return
    for name, value in result.candidate.items():
        console.print(f"  {name:20} active {result.current[name]:.4f}  candidate {value:.4f}")
    if result.outcome == "promoted":
        console.print(f"[green]{result.version} promoted[/green]: the assistant uses it now")
    else:
        worse = ", ".join(f"{k} {a:.4f} → {b:.4f}" for k, (a, b) in result.worse.items())
        console.print(f"[yellow]{result.version} rejected[/yellow] ({worse}); {result.active} stays active")


@nlu_app.command("models")
def nlu_models(task: str = typer.Option("intent", help="intent or emotion"),
               as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON.")) -> None:
    """Stored model versions with their status and measures; the active one is marked."""
    from brokercare.assistant import registry  # deferred: see the module docstring

    try:
        versions, active = registry.list_versions(task), registry.active_version(task)
    except DomainError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps({"active": active, "versions": versions}, ensure_ascii=False, indent=2))
        return
    console.print(f"{'builtin':8} {'':19} {'shipped':9} the package's training data" + ("  [bold]← active[/bold]" if active == "builtin" else ""))
    for v in versions:
        m = (v.get("metrics") or {}).get("candidate", {})
        figures = f"accuracy {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f}" if m else "no figures (trained by hand)"
        console.print(f"{v['version']:8} {v['trained_at'][:19]:19} {v.get('status', 'trained'):9} {v['n_examples']} examples, "
                      f"{v.get('pool_rows', 0)} from the desk, {figures}"
                      + ("  [bold]← active[/bold]" if v["version"] == active else ""))


@nlu_app.command("rollback")
def nlu_rollback(task: str = typer.Option("intent", help="intent or emotion")) -> None:
    """Return to the model version that was active before the current one."""
    from brokercare.assistant import registry  # deferred: see the module docstring

    try:
        before, now = registry.rollback(task)
    except DomainError as exc:
        _fail(exc)
    console.print(f"[green]{task} model {now} is active again[/green] (was {before})")


@nlu_app.command("pool")
def nlu_pool(
    source: str = typer.Option("", help="wrong_intent, agent_edit, no_kb_answer or low_csat"),
    unlabelled: bool = typer.Option(False, help="Only sentences without a confirmed intent."),
    limit: int = typer.Option(30, min=1, max=500),
) -> None:
    """What the service desk taught the assistant: counts per source and the newest sentences."""
    from brokercare.assistant import pool  # deferred: see the module docstring
    from brokercare.core.database import session_scope

    if source and source not in pool.SOURCES:
        console.print(f"[red]Error:[/red] unknown source {source!r}; use one of: {', '.join(pool.SOURCES)}")
        raise typer.Exit(2)
    with session_scope() as session:
        for name, c in pool.counts(session).items():
            console.print(f"{name:13} {c['rows']:6} rows, {c['labelled']:6} with a confirmed intent")
        for r in pool.rows(session, source=source or None, labelled=False if unlabelled else None, limit=limit):
            label = r.label or f"({r.proposed_label or '?'} proposed)"
            who = f" by user {r.labelled_by_id}" if r.labelled_by_id else ""
            console.print(f"  #{r.id} {r.created_at:%Y-%m-%d %H:%M} {r.source:12} {label}{who}  {r.text[:60]}")


@nlu_app.command("label")
def nlu_label(row: int = typer.Argument(..., help="The pool row (#id in `nlu pool`)."),
              intent: str = typer.Argument(..., help="The right intent label (see data/intents.yaml)."),
              user_id: int | None = typer.Option(None, help="Who confirms it (their login's id).")) -> None:
    """Confirm (or correct) the intent of a pooled sentence, so `nlu retrain` learns it."""
    from brokercare.assistant import pool  # deferred: see the module docstring
    from brokercare.core.database import session_scope

    try:
        with session_scope() as session:
            r = pool.confirm_label(session, row, intent, by_user_id=user_id)
            text = r.text
    except DomainError as exc:
        _fail(exc)
    console.print(f"[green]#{row}[/green] {text[:60]} → {intent}")


def register(app: typer.Typer) -> None:
    app.add_typer(nlu_app, name="nlu")
    app.add_typer(kb_app, name="kb")


@kb_app.command("import")
def kb_import(file: Path = typer.Argument(..., help="FAQ as CSV (question,answer[,intent]) or Markdown.")) -> None:
    """Import (or update) FAQ entries; the same question imported again replaces its answer."""
    from brokercare.assistant import kb  # deferred: see the module docstring
    from brokercare.core.database import session_scope

    try:
        entries = kb.parse_faq_file(file)
        with _spinner() as progress:
            progress.add_task(f"Importing {len(entries)} entries from {file.name}", total=None)
            with session_scope() as session:
                result = kb.import_entries(session, entries, source=file.name)
    except DomainError as exc:
        _fail(exc)
    for err in result.errors:
        console.print(f"[yellow]warning:[/yellow] {err}")
    for dup in result.duplicates:
        console.print(f"[yellow]check:[/yellow] {dup}")
    console.print(f"[green]{file.name}[/green]: {result.added} added, {result.updated} updated, "
                  f"{result.skipped} unchanged or skipped")


@kb_app.command("search")
def kb_search(query: str = typer.Argument(...), k: int = typer.Option(3, min=1, max=20)) -> None:
    """Show the best knowledge-base matches for a question."""
    from brokercare.assistant import kb  # deferred: see the module docstring
    from brokercare.core.database import session_scope

    with session_scope() as session:
        hits = kb.knowledge_base(session).search(query, k)
    for h in hits:
        mark = "[green]match[/green]" if h.matched else "[dim]weak[/dim]"
        console.print(f"{h.score:.3f} {mark} {h.question}  ({h.source})\n      {h.answer}")


@kb_app.command("eval")
def kb_eval(
    pairs: Path = typer.Option(..., help="CSV sentence1,sentence2,label (1 = same meaning)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Pair accuracy and F1 of the matcher at its threshold, and hit@1 / MRR of the positives."""
    from brokercare.assistant import kb  # deferred: see the module docstring

    try:
        with _spinner() as progress:
            progress.add_task(f"Scoring pairs in {pairs.name}", total=None)
            report = kb.evaluate_pairs(pairs)
    except DomainError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    console.print(f"{report['n_pairs']} pairs ({report['n_positive']} same meaning), threshold {report['threshold']}")
    console.print(f"[bold]accuracy {report['accuracy']:.4f}  F1 {report['f1']:.4f}[/bold] "
                  f"(precision {report['precision']:.4f}, recall {report['recall']:.4f})")
    console.print(f"[bold]hit@1 {report['hit_at_1']:.4f}  MRR {report['mrr']:.4f}[/bold] "
                  f"({report['n_queries']} queries against {report['n_candidates']} candidates)")


@kb_app.command("gaps")
def kb_gaps(days: int = typer.Option(30, min=1, max=365, help="Look back this many days."),
            limit: int = typer.Option(20, min=1, max=200),
            as_json: bool = typer.Option(False, "--json", help="Print the gaps as JSON.")) -> None:
    """Questions the knowledge base could not answer (hand-offs), grouped by meaning, most asked first."""
    from brokercare.assistant import gaps  # deferred: see the module docstring
    from brokercare.core.database import session_scope

    with session_scope() as session:
        found = gaps.faq_gaps(session, days=days, limit=limit)
    if as_json:
        typer.echo(json.dumps([g.as_dict() for g in found], ensure_ascii=False, indent=2))
        return
    if not found:
        console.print(f"No unanswered questions in the last {days} days.")
        return
    for g in found:
        console.print(f"[bold]{g.asked}×[/bold] {g.question}  [dim](last asked {g.last_asked:%Y-%m-%d})[/dim]")
        for other in g.examples[1:]:
            console.print(f"      also: {other}")
