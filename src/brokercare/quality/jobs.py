"""The quality domain's scheduled jobs (``core/data/schedule.yaml``): the previous month's
service-quality report on the first trading day of the month, written to the data dir and
e-mailed to the staff list ``BROKERCARE_QUALITY_REPORT_TO`` through the outbox; the nightly churn
rescoring; and the month-end snapshot of the managers' books."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.core.runs import RunContext
from brokercare.core.settings import get_settings
from brokercare.outbox import service as outbox
from brokercare.quality import churn, churn_model, managers, report, service
from brokercare.quality.service import KpiReport

ORIGIN = "quality"


def previous_month(day: date) -> str:
    return (day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def recipients() -> list[str]:
    return [a.strip() for a in get_settings().quality_report_to.split(",") if a.strip()]


def mail_report(session: Session, kpis: KpiReport, paths: tuple[Path, Path], to: list[str]) -> int:
    """One e-mail per staff address (once per month and address, however often the job runs):
    the month's summary and where the HTML and PDF are. Returns how many were newly queued."""
    month = f"{kpis.start:%Y-%m}"
    title = report.month_title(kpis)
    body = f"{title}\n\n{report.summary_text(kpis)}\n\n完整报告：\n{paths[0]}\n{paths[1]}\n"
    queued = [outbox.enqueue(session, channel="email", kind="quality_report", subject=title, body=body,
                             address=address, idempotency_key=f"quality-report:{month}:{address}",
                             origin=ORIGIN, origin_ref=f"report:{month}") for address in to]
    return sum(q.created for q in queued)


def monthly_report(ctx: RunContext) -> dict:
    """Last month's report as HTML and PDF under ``<data dir>/reports/quality``, mailed to staff."""
    month = previous_month(ctx.day)
    with ctx.session() as session:
        kpis = service.month_kpis(session, month, as_of=ctx.now)
        paths = report.write(kpis, get_settings().data_dir / "reports" / "quality", report.gather(session, kpis))
        mailed = mail_report(session, kpis, paths, recipients())
    return {"month": month, "conversations": kpis.overall["conversations"], "mailed": mailed}


#: The nightly rescoring trains the model afresh when it is this old (or missing).
RETRAIN_AFTER = timedelta(days=30)


def _model(ctx: RunContext) -> churn_model.Trained | None:
    """The kept model, trained again (and saved) when missing, a month old or made for other
    features; None when the history is too short to learn from (warned)."""
    try:
        trained = churn_model.load()
        if ctx.now - trained.trained_at < RETRAIN_AFTER and getattr(trained, "features", None) == churn.FEATURES:
            return trained
    except NotFound:
        pass
    try:
        with ctx.session() as session:
            trained = churn_model.train(session, now=ctx.now)
    except ValidationFailed as exc:
        ctx.warn(f"churn model not trained: {exc}")
        return None
    churn_model.save(trained)
    return trained


def churn_rescore(ctx: RunContext) -> dict:
    """Every active customer's churn risk as of tonight, with the reasons, for their manager."""
    trained = _model(ctx)
    if trained is None:
        return {"scored": 0}
    with ctx.session() as session:
        done = churn_model.score(session, trained, now=ctx.now)
    return {**done, "auc": trained.evaluation.auc_model, "trained_at": trained.trained_at.isoformat()}


def book_snapshot(ctx: RunContext) -> dict:
    """Each customer's net assets and manager after the month's last close (managers' scorecards)."""
    with ctx.session() as session:
        return {"day": ctx.day.isoformat(), "customers": managers.snapshot_books(session, ctx.day)}


JOBS = {"monthly_report": monthly_report, "churn_rescore": churn_rescore, "book_snapshot": book_snapshot}
