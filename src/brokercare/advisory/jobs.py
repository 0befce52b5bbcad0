"""The robo-advisor's scheduled jobs (``core/data/schedule.yaml``; docs/jobs.md)."""

from __future__ import annotations

from brokercare.advisory import service
from brokercare.core.runs import RunContext
from brokercare.core.settings import get_settings


def goal_review(ctx: RunContext) -> dict:
    """Re-project every active customer goal with the day's data (progress tracking)."""
    with ctx.session() as session:
        return service.review_goals(session, today=ctx.day)


def rebalance_proposals(ctx: RunContext) -> dict:
    """Rebalancing proposals for every customer, as Parquet under the data dir's reports."""
    out = get_settings().data_dir / "reports" / "advisory"
    with ctx.session() as session:
        summary = service.nightly(session, out, run_date=ctx.day)
    return {"customers": summary.customers, "rebalance": summary.rebalance,
            "reassess": summary.reassess, "trades": summary.trades, "path": str(summary.path)}


JOBS = {"goal_review": goal_review, "rebalance_proposals": rebalance_proposals}
