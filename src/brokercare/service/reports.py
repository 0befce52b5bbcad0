"""The quarterly customer-feedback report (Markdown and HTML): feedback by kind, channel and
topic, how fast it was answered against the 24-hour promise, CSAT, and where suggestions stand.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import ValidationFailed
from brokercare.service.assistant import intent_name
from brokercare.service.channels import CHANNEL_ZH
from brokercare.service.models import CsatSurvey, Feedback, SlaClock, Ticket

KIND_ZH = {"suggestion": "建议", "complaint": "投诉", "praise": "表扬", "question": "咨询"}
SUGGESTION_ZH = {"under_review": "评估中", "accepted": "已采纳", "rejected": "未采纳", "shipped": "已上线"}


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    """``2026Q3`` → [2026-07-01 00:00, 2026-10-01 00:00) Beijing time."""
    m = re.fullmatch(r"(\d{4})Q([1-4])", quarter.strip().upper())
    if not m:
        raise ValidationFailed(f"quarter must look like 2026Q3, got {quarter!r}")
    year, q = int(m.group(1)), int(m.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return (datetime.combine(start, datetime.min.time(), SHANGHAI),
            datetime.combine(end, datetime.min.time(), SHANGHAI))


def _pct(n: int, d: int) -> float | None:
    return round(100.0 * n / d, 1) if d else None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1], 1)


@dataclass
class FeedbackReport:
    quarter: str
    data: dict
    markdown: str
    html: str


def build_feedback_report(session: Session, quarter: str, *, now: datetime | None = None) -> FeedbackReport:
    now = now or utcnow()
    start, end = quarter_bounds(quarter)
    fbs = session.scalars(select(Feedback).where(Feedback.created_at >= start, Feedback.created_at < end)
                          .order_by(Feedback.id)).all()
    surveys = session.scalars(select(CsatSurvey).where(CsatSurvey.sent_at >= start, CsatSurvey.sent_at < end)).all()
    tks = session.scalars(select(Ticket).where(Ticket.created_at >= start, Ticket.created_at < end)).all()
    ticket_ids = [t.id for t in tks]
    breached = 0
    if ticket_ids:
        breached = len(set(session.scalars(select(SlaClock.subject_id).where(
            SlaClock.subject_kind == "ticket", SlaClock.subject_id.in_(ticket_ids),
            SlaClock.breached_at.is_not(None)))))

    answer_hours = [(f.answered_at - f.created_at).total_seconds() / 3600 for f in fbs if f.answered_at]
    within = sum(1 for h in answer_hours if h <= 24)
    overdue_open = sum(1 for f in fbs if f.answered_at is None and (now - f.created_at).total_seconds() > 86400)
    by_topic = Counter(intent_name(f.category) for f in fbs).most_common(10)
    responded = [s for s in surveys if s.score is not None]

    def csat_of(rows: list[CsatSurvey]) -> dict:
        scored = [s.score for s in rows if s.score is not None]
        return {
            "sent": len(rows), "responses": len(scored), "response_rate": _pct(len(scored), len(rows)),
            "average": round(statistics.fmean(scored), 2) if scored else None,
            "satisfied_pct": _pct(sum(1 for x in scored if x >= 4), len(scored)),
        }

    suggestions = [f for f in fbs if f.kind == "suggestion"]
    data = {
        "quarter": quarter.upper(),
        "period": f"{start.date()} – {(end.date())}",
        "generated_at": now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "feedback_total": len(fbs),
        "by_kind": [(KIND_ZH.get(k, k), n) for k, n in Counter(f.kind for f in fbs).most_common()],
        "by_channel": [(CHANNEL_ZH.get(k, k), n) for k, n in Counter(f.channel for f in fbs).most_common()],
        "by_topic": by_topic,
        "answered": len(answer_hours),
        "answer_median_h": _quantile(answer_hours, 0.5),
        "answer_p90_h": _quantile(answer_hours, 0.9),
        "within_24h_pct": _pct(within, len(answer_hours)),
        "overdue_unanswered": overdue_open,
        "csat": csat_of(list(surveys)),
        "csat_by_channel": [(CHANNEL_ZH.get(ch, ch), csat_of([s for s in surveys if s.channel == ch]))
                            for ch in sorted({s.channel for s in surveys})],
        "csat_by_subject": [("会话" if k == "conversation" else "工单", csat_of([s for s in surveys if s.subject_kind == k]))
                            for k in ("conversation", "ticket")],
        "csat_low_comments": [s.comment for s in responded if s.score <= 2 and s.comment][:10],
        "suggestion_status": [(SUGGESTION_ZH.get(k, k), n) for k, n in
                              Counter(f.suggestion_status for f in suggestions).most_common()],
        "suggestions_shipped": [{"text": f.text[:60], "shipped_in": f.shipped_in} for f in suggestions
                                if f.suggestion_status == "shipped"],
        "suggestions_accepted": [{"text": f.text[:60]} for f in suggestions if f.suggestion_status == "accepted"],
        "tickets_total": len(tks),
        "tickets_by_priority": Counter(t.priority for t in tks).most_common(),
        "tickets_breached": breached,
    }
    env = Environment(loader=PackageLoader("brokercare.service", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    md = env.get_template("feedback_report.md").render(**data)
    html = env.get_template("feedback_report.html").render(**data)
    return FeedbackReport(quarter.upper(), data, md, html)


def write_feedback_report(session: Session, quarter: str, out_dir: Path) -> tuple[Path, Path]:
    report = build_feedback_report(session, quarter)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path = out_dir / f"feedback-{report.quarter}.md"
    html_path = out_dir / f"feedback-{report.quarter}.html"
    md_path.write_text(report.markdown, "utf-8")
    html_path.write_text(report.html, "utf-8")
    return md_path, html_path
