"""Customer managers: the conversion of proactive leads (a KPI) and the managers' scorecards —
their book's AUM growth and retention, leads won, tasks done and their customers' CSAT.

Leads and tasks come from engagement's batch reads, net assets from accounts, the book (who is
whose customer) from customers, CSAT from the service hub — services, never their tables. Accounts
keeps no history of net assets, so the quality domain snapshots every customer's net assets and
manager after the close of each month's last trading day (``quality.book_snapshot``); a month's
AUM growth and retention compare the snapshot before the month with the month's own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts
from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import PermissionDenied
from brokercare.customers import service as customers
from brokercare.engagement import service as engagement
from brokercare.quality.definitions import share
from brokercare.quality.models import BookSnapshot
from brokercare.quality.scorecards import may_see
from brokercare.security.policy import Principal
from brokercare.service import service as hub

#: A customer of the book at the start counts for retention from this much money on.
RETAIN_FROM = 1_000
MANAGER_ROLES = ("customer_manager",)


def _days(start: datetime, end: datetime) -> tuple[date, date]:
    """The Beijing days of ``[start, end)``, first and last."""
    return start.astimezone(SHANGHAI).date(), (end.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()


def lead_rows(session: Session, start: datetime, end: datetime, *, manager_id: int | None = None) -> pl.DataFrame:
    """Leads raised in the period (one manager's with ``manager_id``) with ``contacted`` and ``won`` flags."""
    first, last = _days(start, end)
    frame = engagement.lead_facts(session.connection(), first_day=first, last_day=last, manager_id=manager_id)
    return frame.with_columns(contacted=pl.col("contacted_at").is_not_null(), won=pl.col("state") == "won")


def _conversion(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    agg = [pl.len().alias("leads_raised"), pl.col("contacted").sum().alias("leads_contacted"),
           pl.col("won").sum().alias("leads_won"),
           pl.col("amount").filter(pl.col("won")).sum().fill_null(0).alias("won_amount")]
    out = frame.group_by(by).agg(agg).sort(by, nulls_last=True) if by else frame.select(agg)
    return out.with_columns(
        pl.when(pl.col("leads_contacted") > 0).then(pl.col("leads_won") / pl.col("leads_contacted"))
        .alias("lead_conversion_rate"),
        pl.when(pl.col("leads_raised") > 0).then(pl.col("leads_won") / pl.col("leads_raised"))
        .alias("lead_win_rate"))


def lead_conversion(session: Session, start: datetime, end: datetime) -> dict[str, pl.DataFrame]:
    """Proactive lead conversion of the leads raised in ``[start, end)``: overall, by manager, by
    need, and by manager and need (docs/quality.md)."""
    frame = lead_rows(session, start, end)
    return {"overall": _conversion(frame, []), "manager": _conversion(frame, ["manager_id"]),
            "need": _conversion(frame, ["need"]), "manager_need": _conversion(frame, ["manager_id", "need"])}


# --- the book snapshot -------------------------------------------------------------------------

def snapshot_books(session: Session, day: date) -> int:
    """Every open customer's net assets now and manager, as the book of ``day`` (a rerun of the
    same day replaces it). Returns the customers written."""
    books = customers.managers_frame(session.connection()).filter(pl.col("open"))
    assets = {a.customer_id: a.net_assets for a in accounts.net_assets_by_customer(session)}
    session.execute(delete(BookSnapshot).where(BookSnapshot.day == day))
    rows = [{"day": day, "customer_id": cid, "manager_id": manager, "net_assets": assets.get(cid, 0)}
            for cid, manager in books.select("customer_id", "manager_id").iter_rows()]
    if rows:
        session.execute(BookSnapshot.__table__.insert(), rows)
    session.flush()
    return len(rows)


def _snapshot_before(session: Session, moment: datetime) -> date | None:
    return session.scalar(select(func.max(BookSnapshot.day)).where(BookSnapshot.day < moment.astimezone(SHANGHAI).date()))


def _book(session: Session, day: date | None, manager_id: int) -> dict[int, float]:
    if day is None:
        return {}
    return {cid: float(v) for cid, v in session.execute(
        select(BookSnapshot.customer_id, BookSnapshot.net_assets)
        .where(BookSnapshot.day == day, BookSnapshot.manager_id == manager_id))}


def book_figures(session: Session, manager_id: int, start: datetime, end: datetime) -> dict:
    """AUM at the snapshot before the period and at the last one in it, its growth, and the
    retention of the customers of the first book with 1,000 元 or more: still the manager's at
    the end, still holding 1,000 元 or more."""
    first, last = _snapshot_before(session, start), _snapshot_before(session, end)
    if last == first:
        last = None  # no snapshot inside the period yet
    before, after = _book(session, first, manager_id), _book(session, last, manager_id)
    aum_start = sum(before.values()) if first else None
    aum_end = sum(after.values()) if last else None
    counted = [c for c, v in before.items() if v >= RETAIN_FROM]
    kept = [c for c in counted if after.get(c, 0) >= RETAIN_FROM] if last else []
    return {"book_start_day": first.isoformat() if first else None, "book_end_day": last.isoformat() if last else None,
            "customers_start": len(before) if first else None, "customers_end": len(after) if last else None,
            "aum_start": aum_start, "aum_end": aum_end,
            "aum_growth": share(aum_end - aum_start, aum_start) if aum_start and aum_end is not None else None,
            "retention_base": len(counted) if last else None,
            "retention_rate": share(len(kept), len(counted)) if last else None}


def _tasks(session: Session, manager_id: int, start: datetime, end: datetime) -> dict:
    tasks = engagement.task_facts(session.connection(), start=start, end=end, manager_id=manager_id)
    done = tasks.filter(pl.col("done_at").is_not_null())
    on_time = done.filter(pl.col("done_at") <= pl.col("due_at")).height
    return {"tasks_due": tasks.height, "tasks_done": done.height, "tasks_done_on_time": on_time,
            "task_done_rate": share(done.height, tasks.height)}


def _csat(session: Session, manager_id: int, start: datetime, end: datetime) -> dict:
    """The CSAT answers of the manager's customers (their book now) on surveys sent in the period."""
    conn = session.connection()
    book = customers.managers_frame(conn, manager_id=manager_id).select("customer_id")
    answers = hub.csat_facts(conn, start, end).join(book, on="customer_id").filter(pl.col("score").is_not_null())
    return {"csat_responses": answers.height, "csat_average": answers["score"].mean() if answers.height else None}


def manager_scorecard(session: Session, viewer: Principal, manager_id: int, start: datetime, end: datetime) -> dict:
    """One customer manager's figures of ``[start, end)``; seen by the manager, their team lead
    (the staff profile's) and admins, as the agents' scorecards are."""
    if not may_see(session, viewer, manager_id):
        raise PermissionDenied("a scorecard is seen by the manager, their team lead and admins")
    leads = _conversion(lead_rows(session, start, end, manager_id=manager_id), []).row(0, named=True)
    return {"manager_id": manager_id, **book_figures(session, manager_id, start, end), **leads,
            **_tasks(session, manager_id, start, end), **_csat(session, manager_id, start, end)}
