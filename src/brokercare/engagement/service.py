"""The engagement domain's public face: daily post-close reports (read, build, store, push), and
the leads and tasks of customer managers (:mod:`engagement.leads`, :mod:`engagement.triggers`),
and the customers' calculators (:mod:`engagement.calculators`).

Reports are computed a partition of customer ids at a time from the other domains' batch reads
(:mod:`engagement.nightly`) by the pure :func:`engagement.daily.compute`; the nightly job, the CLI
and the customer's page all go through the same :func:`build`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, select

if TYPE_CHECKING:
    from dask.distributed import Client
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from brokercare.core.calendar import (
    SHANGHAI,
    is_trading_day,
    next_trading_day,
    previous_trading_day,
)
from brokercare.core.database import utcnow
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.customers.service import get_customer_by_no
from brokercare.engagement import communities, contact, education, leads, library
from brokercare.engagement.calculators import Lot as Lot
from brokercare.engagement.calculators import dividend_tax as dividend_tax
from brokercare.engagement.calculators import goal as goal
from brokercare.engagement.calculators import loan as loan
from brokercare.engagement.communities import held_posts as held_posts
from brokercare.engagement.communities import hosted_by as hosted_by
from brokercare.engagement.education import community_cards as community_cards
from brokercare.engagement.education import learn_page as learn_page
from brokercare.engagement.education import open_item as open_item
from brokercare.engagement.education import reader_of as reader_of
from brokercare.engagement.facts import lead_facts as lead_facts
from brokercare.engagement.facts import task_facts as task_facts
from brokercare.engagement.ipo_estimate import IpoEstimate, estimates_for, notes_for
from brokercare.engagement.leads import leads_of as leads_of
from brokercare.engagement.leads import need_labels as need_labels
from brokercare.engagement.leads import update_lead as update_lead
from brokercare.engagement.models import DailyReport
from brokercare.engagement.nightly import PARTITION, Progress, build, documents, night
from brokercare.engagement.nightly import read_inputs as read_inputs
from brokercare.engagement.tiers import add_specialist as add_specialist
from brokercare.engagement.tiers import config as tier_config
from brokercare.engagement.tiers import team_of as team_of
from brokercare.engagement.triggers import TASK_KIND_LABELS as TASK_KIND_LABELS
from brokercare.engagement.triggers import complete_task as complete_task
from brokercare.engagement.triggers import is_overdue as is_overdue
from brokercare.engagement.triggers import tasks_of as tasks_of
from brokercare.engagement.welcome import benefits_of as benefits_of
from brokercare.engagement.welcome import redeem as redeem
from brokercare.engagement.welcome import use_commission_waiver as use_commission_waiver
from brokercare.engagement.welcome import uses_of as uses_of
from brokercare.engagement.welcome import welcome as welcome
from brokercare.outbox.schemas import NewMessage
from brokercare.outbox.service import enqueue_many

# --- the education library and the communities (engagement.library, .communities, .education) ---
communities_config = communities.config
community_hosts = communities.hosts
join_community = communities.join
leave_community = communities.leave
host_post = communities.post_as_host
review_post = communities.review
community_threads = communities.threads
community_post = education.post
content_html = library.body_html
grade_quiz = library.grade
content_library = library.library
mark_content_done = library.mark_done

#: A lead's states in words, for pages.
LEAD_STATE_LABELS = leads.STATE_LABELS
#: Leads by need and state with the amount won (service quality's conversion of proactive leads).
lead_conversion = leads.conversion


def education_completion(session: Session, customer_id: int):
    """How much of the library written for the customer they finished (counts only)."""
    from brokercare.engagement.library import completion

    return completion(session, customer_id, reader_of(session, customer_id))


def services_of_tier(tier: str) -> list[str]:
    """What the tier gets, in words (``data/tier_services.yaml``)."""
    return tier_config().of_tier(tier)


def ipo_estimates(session: Session, *, day: date) -> list[IpoEstimate]:
    """First-day estimates, from comparable recent listings, of the new shares subscribing on ``day``."""
    return estimates_for(session, day)


def check_day(day: date) -> None:
    if not is_trading_day(day):
        raise ValidationFailed(f"{day:%Y年%m月%d日}不是交易日，没有收盘报告")


def live_report(session: Session, customer_id: int, day: date) -> dict:
    """The report computed now from the current holdings (the day's own when not stored)."""
    check_day(day)
    frames = build(session.connection(), day, lo=customer_id, hi=customer_id)
    if frames.summary.is_empty():
        raise NotFound("没有找到该客户的收盘报告")
    return next(documents(frames, day, notes_for(session, next_trading_day(day))))[1]


def report_for(session: Session, customer_id: int, day: date) -> dict:
    """The customer's report of ``day``: as written that evening, else (the latest day only)
    computed now; an older day never written is a clear 404."""
    check_day(day)
    stored = session.scalar(select(DailyReport.data).where(DailyReport.customer_id == customer_id,
                                                           DailyReport.day == day))
    if stored is not None:
        return stored
    today = datetime.now(SHANGHAI).date()
    if day > today:
        raise NotFound(f"{day:%Y年%m月%d日}还没有收盘，报告尚未生成")
    if next_trading_day(day) <= today:  # today's holdings are no longer that day's
        raise NotFound(f"没有保存{day:%Y年%m月%d日}的收盘报告（订阅每日收盘报告后，每天的报告都会保存）")
    return live_report(session, customer_id, day)


def latest_day(now: datetime | None = None) -> date:
    """The latest trading day whose close is in: today after 15:00 Beijing time, else the one before."""
    local = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    if is_trading_day(local.date()) and local.time() >= time(15, 0):
        return local.date()
    return previous_trading_day(local.date())


def report_html(doc: dict) -> tuple[str, str]:
    """The report's HTML body (inline SVG charts, no script) and the CSS it needs, for a page."""
    from brokercare.engagement import render

    return render.html_fragment(doc), render.REPORT_CSS


def report_pdf(doc: dict, renderer: str | None = None) -> bytes:
    """The report as a PDF with its CJK font embedded (see :mod:`engagement.render`)."""
    from brokercare.engagement import render

    return render.pdf(doc, renderer)


def report_by_customer_no(session: Session, customer_no: str, day: date) -> tuple[int, dict]:
    customer = get_customer_by_no(session, customer_no)
    return customer.id, report_for(session, customer.id, day)


def report_link(day: date) -> str:
    return f"/me/reports/daily/{day.isoformat()}"


def _store(conn: Connection, day: date, docs: list[tuple[int, dict]]) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(DailyReport.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=["customer_id", "day"], set_={"data": stmt.excluded.data})
    now = utcnow()
    conn.execute(stmt, [{"customer_id": cid, "day": day, "data": doc, "created_at": now} for cid, doc in docs])


def _push(day: date, cid: int, doc: dict) -> NewMessage:
    body = doc["headline"]
    if doc["high_risk"]:
        body += f"另有 {len(doc['high_risk'])} 条高风险持仓提示。"
    return NewMessage(channel="app", kind="daily_report", subject=f"{day.month}月{day.day}日收盘报告",
                      body=f"{body}查看完整报告：{report_link(day)}", customer_id=cid,
                      idempotency_key=f"engagement:daily:{cid}:{day.isoformat()}",
                      origin="engagement", origin_ref=f"daily:{day.isoformat()}",
                      urgent=False)


@dataclass(frozen=True)
class NightSummary:
    reports: int
    pushes: int
    partitions: int


def publish_daily_reports(engine: Engine, day: date, *, partition: int = PARTITION,
                          client: Client | None = None,
                          progress: Progress | None = None) -> NightSummary:
    """Each opted-in customer's report of ``day`` stored, and one app push with its link queued
    when the contact frequency cap allows (idempotent: a second run rewrites the reports and
    queues nothing new). Partitions are
    computed in this process or on a Dask ``client``; each is stored in its own transaction."""
    check_day(day)
    reports = pushes = parts = 0
    for docs in night(engine, day, partition=partition, client=client, progress=progress):
        parts += 1
        if not docs:
            continue
        with Session(engine) as session, session.begin():
            _store(session.connection(), day, docs)
            ref = f"daily:{day.isoformat()}"
            allowed = contact.allow(session, [(cid, ref) for cid, _ in docs], kind="daily_report", day=day)
            queued = enqueue_many(session, [_push(day, cid, doc) for cid, doc in docs if (cid, ref) in allowed])
        reports += len(docs)
        pushes += sum(q.created for q in queued)
    return NightSummary(reports=reports, pushes=pushes, partitions=parts)


def _write(doc: dict, out_dir: Path, fmt: str) -> Path:
    from brokercare.engagement import render

    path = out_dir / f"{doc['customer_no']}.{fmt}"
    if fmt == "pdf":
        path.write_bytes(render.pdf(doc))
    else:
        path.write_text(render.html_page(doc), encoding="utf-8")
    return path


def write_reports(engine: Engine, day: date, out_dir: Path, *, fmt: str = "html", customer_no: str | None = None,
                  everyone: bool = False, progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write reports of ``day`` as files in ``out_dir/<day>/``: one customer's (the stored report,
    else computed now), or every opted-in customer's (``everyone``: every open customer's) — the
    scheduled job's code path."""
    if fmt not in ("html", "pdf"):
        raise ValidationFailed(f"unknown format {fmt!r}: expected html or pdf")
    check_day(day)
    folder = out_dir / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    if customer_no is not None:
        with Session(engine) as session:
            customer = get_customer_by_no(session, customer_no)
            stored = session.scalar(select(DailyReport.data).where(DailyReport.customer_id == customer.id,
                                                                   DailyReport.day == day))
            return [_write(stored or live_report(session, customer.id, day), folder, fmt)]
    return [_write(doc, folder, fmt) for docs in night(engine, day, subscribers_only=not everyone, progress=progress)
            for _, doc in docs]

