"""The quality domain's scheduled job: the previous month's service-quality report, on the first
trading day of the month (``core/data/schedule.yaml``), written to the data dir and e-mailed to
the staff list ``BROKERCARE_QUALITY_REPORT_TO`` through the outbox."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from brokercare.core.runs import RunContext
from brokercare.core.settings import get_settings
from brokercare.outbox import service as outbox
from brokercare.quality import report, service
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


JOBS = {"monthly_report": monthly_report}
