"""The customer data platform's scheduled jobs (``core/data/schedule.yaml``; docs/jobs.md)."""

from __future__ import annotations

from brokercare.core.runs import RunContext
from brokercare.customers import batch


def profile_refresh(ctx: RunContext) -> dict:
    """Every customer's profile after the close: features, tags, tier (changes published)."""
    result = batch.run(ctx.engine)
    return {"customers": result.customers, "tier_changes": result.tier_changes,
            "first_profiles": result.first_profiles, "partitions": result.partitions}


JOBS = {"profile_refresh": profile_refresh}
