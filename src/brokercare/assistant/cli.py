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
