"""The accounts domain's scheduled jobs (``core/data/schedule.yaml``; docs/jobs.md): transfers that
need a second look during the banks' hours, the post-close reconciliation of each bank's
statement (docs/transfers.md), the T+1 confirmation of fund orders, the arrival of redemption
proceeds on their fund type's day, and the reconciliation against the fund companies'
confirmation files (docs/funds.md)."""

from __future__ import annotations

from brokercare.accounts import (
    fund_confirmation,
    fund_reconciliation,
    fund_settlement,
    reconciliation,
    transfers,
)
from brokercare.core.calendar import previous_trading_day
from brokercare.core.errors import ValidationFailed
from brokercare.core.runs import RunContext


def transfers_follow_up(ctx: RunContext) -> dict:
    """Send transfers recorded but not sent; ask the bank about those whose answer never came."""
    with ctx.session() as session:
        return transfers.follow_up(session)


def reconcile_bank_statements(ctx: RunContext) -> dict:
    """Match each custody bank's statement of the day against the day's transfers."""
    counts = {"banks": 0, "rows": 0, "matched": 0, "settled": 0, "differences": 0}
    files = reconciliation.statement_files(ctx.day)
    for bank, path in files:
        with ctx.session() as session:
            result = reconciliation.reconcile(session, bank_name=bank, day=ctx.day,
                                              rows=reconciliation.read_statement(path))
        counts["banks"] += 1
        counts["rows"] += result.statement_rows
        counts["matched"] += result.matched
        counts["settled"] += result.settled
        counts["differences"] += len(result.differences)
    if not files:
        raise ValidationFailed(f"no bank statement received for {ctx.day} in "
                               f"{reconciliation.statement_inbox()} (<bank>_{ctx.day:%Y%m%d}.csv)")
    return counts


def fund_orders_confirm(ctx: RunContext) -> dict:
    """Load the NAV files the placed orders wait for, then confirm every order due (T+1)."""
    counts = {"nav_files": 0, "navs": 0}
    with ctx.session() as session:
        days = fund_confirmation.due_nav_days(session, ctx.day)
    for day in days:
        path = fund_confirmation.nav_file(day)
        if path.exists():
            with ctx.session() as session:
                loaded = fund_confirmation.load_navs(session, fund_confirmation.read_nav_file(path),
                                                     source=path.name)
            counts["nav_files"] += 1
            counts["navs"] += loaded["added"] + loaded["corrected"]
    counts |= fund_confirmation.confirm_in_batches(ctx.session, ctx.day)
    with ctx.session() as session:
        late = fund_confirmation.waiting_orders(session, previous_trading_day(ctx.day))
    if late:
        ctx.warn(f"{late} fund order(s) still wait for a NAV more than a trading day old: "
                 f"expected {fund_confirmation.nav_inbox()}/nav_<YYYYMMDD>.csv")
    return counts


def settle_fund_redemptions(ctx: RunContext) -> dict:
    """Credit redemption proceeds whose settlement day (T+n by fund type) has come; a run twice, or
    by two schedulers, credits each once."""
    with ctx.session() as session:
        return fund_settlement.settle_due(session, ctx.day)


def reconcile_fund_confirmations(ctx: RunContext) -> dict:
    """Match each fund company's confirmations of the last NAV day against the platform's orders."""
    nav_day = previous_trading_day(ctx.day)
    counts = {"fund_companies": 0, "rows": 0, "matched": 0, "differences": 0}
    files = fund_reconciliation.confirmation_files(nav_day)
    for ta, path in files:
        with ctx.session() as session:
            result = fund_reconciliation.reconcile(session, ta=ta, nav_day=nav_day,
                                                   rows=fund_reconciliation.read_confirmations(path))
        counts["fund_companies"] += 1
        counts["rows"] += result.rows
        counts["matched"] += result.matched
        counts["differences"] += len(result.differences)
    if not files:
        ctx.warn(f"no fund confirmation file for {nav_day} in {fund_reconciliation.confirmation_inbox()} "
                 f"(<ta>_{nav_day:%Y%m%d}.csv)")
    return counts


JOBS = {
    "fund_orders_confirm": fund_orders_confirm,
    "settle_fund_redemptions": settle_fund_redemptions,
    "transfers_follow_up": transfers_follow_up,
    "reconcile_bank_statements": reconcile_bank_statements,
    "reconcile_fund_confirmations": reconcile_fund_confirmations,
}
