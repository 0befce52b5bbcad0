"""The accounts domain's scheduled jobs (``core/data/schedule.yaml``; docs/jobs.md): transfers that
need a second look during the banks' hours, and the post-close reconciliation of each bank's
statement (docs/transfers.md)."""

from __future__ import annotations

from brokercare.accounts import reconciliation, transfers
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


JOBS = {
    "transfers_follow_up": transfers_follow_up,
    "reconcile_bank_statements": reconcile_bank_statements,
}
