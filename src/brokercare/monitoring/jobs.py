"""Monitoring's scheduled jobs: the IPO calendar's day (``core/data/schedule.yaml``; docs/jobs.md).

Pre-open, the winning lots announced today (T+2) are recorded from the result file the broker's
trading system receives from the exchange, then the day's reminders go out; post-close, each
customer's market value is stored for the quotas and the day's payments are settled.

Lottery result files: ``<data dir>/inbox/ipo-lottery/<申购代码>.csv`` with the columns
``customer_no,won_shares`` (UTF-8 or GBK); a customer not in the file did not win.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.bulkimport import read_rows
from brokercare.core.errors import DomainError, ValidationFailed
from brokercare.core.runs import RunContext
from brokercare.core.settings import get_settings
from brokercare.customers.service import get_customer_by_no
from brokercare.monitoring import ipo
from brokercare.monitoring.models import IpoIssue
from brokercare.monitoring.watchlists import settle_margin_calls


def lottery_inbox() -> Path:
    return get_settings().data_dir / "inbox" / "ipo-lottery"


def _winners(session: Session, path: Path) -> dict[int, int]:
    header, rows = read_rows(path)
    missing = {"customer_no", "won_shares"} - set(header)
    if missing:
        raise ValidationFailed(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
    winners, errors = {}, []
    for i, rec in enumerate(rows):
        if rec is None:
            continue
        try:
            shares = int(rec["won_shares"])
            if shares < 0:
                raise ValueError
            winners[get_customer_by_no(session, rec["customer_no"]).id] = shares
        except ValueError:
            errors.append(f"row {i + 2}: won_shares {rec['won_shares']!r} is not a whole number ≥ 0")
        except DomainError as exc:
            errors.append(f"row {i + 2}: {exc.detail}")
    if errors:
        raise ValidationFailed(f"{path.name}: nothing recorded; " + "; ".join(errors[:10]))
    return winners


def ipo_lottery_results(ctx: RunContext) -> dict:
    """Record the winning lots of the issues whose results are announced today."""
    counts = {"issues": 0, "winners": 0}
    missing = []
    with ctx.session() as session:
        codes = session.scalars(select(IpoIssue.code).where(IpoIssue.results_on == ctx.day)).all()
        for code in codes:
            path = lottery_inbox() / f"{code}.csv"
            if not path.exists():
                missing.append(str(path))
                continue
            counts["winners"] += ipo.record_lottery(session, code, _winners(session, path))
            counts["issues"] += 1
    if missing:  # the others are recorded; re-run the job once the files are there
        raise ValidationFailed(f"lottery results not received for {len(missing)} issue(s): "
                               f"{', '.join(missing)}")
    return counts


def ipo_reminders(ctx: RunContext) -> dict:
    """Subscription reminders with each customer's quota, winning-lot and payment notices."""
    with ctx.session() as session:
        return ipo.daily_reminders(session, ctx.day)


def ipo_market_values(ctx: RunContext) -> dict:
    """Each customer's closing A-share market value per exchange (the IPO quota's basis)."""
    with ctx.session() as session:
        return {"recorded": ipo.record_market_values(session, ctx.day)}


def ipo_settlement(ctx: RunContext) -> dict:
    """After 16:00 on T+2: wins with enough cash are paid, the others abandoned and warned."""
    with ctx.session() as session:
        return ipo.settle_payments(session, ctx.day)


def margin_calls_settle(ctx: RunContext) -> dict:
    """After the close: calls whose contract is back above its warning line are met, a contract's
    older calls give way to its latest; the rest stay open (overdue ones await disposal)."""
    with ctx.session() as session:
        return settle_margin_calls(session, ctx.day)


JOBS = {
    "margin_calls_settle": margin_calls_settle,
    "ipo_lottery_results": ipo_lottery_results,
    "ipo_reminders": ipo_reminders,
    "ipo_market_values": ipo_market_values,
    "ipo_settlement": ipo_settlement,
}
