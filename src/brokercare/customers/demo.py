"""Demo hook: after ``brokercare generate`` has written the brokerage, compute every profile so
the demo opens with tiers, tags and life stages in place (and a first tier-history row each)."""

from __future__ import annotations

import os

from sqlalchemy import Engine


def generate(engine: Engine, rng, summary) -> None:  # noqa: ANN001 - rng unused: profiles are derived
    from brokercare.customers import batch

    workers = 2 if (os.cpu_count() or 1) > 1 and batch.customer_count(engine) >= 200_000 else 1
    result = batch.run(engine, workers=workers, publish=False)
    if hasattr(summary, "add"):
        summary.add("customer_profiles", result.customers)
        summary.add("tier_changes", result.first_profiles + result.tier_changes)
    notes = getattr(summary, "notes", None)
    if isinstance(notes, list):
        top = sorted(result.tags.items(), key=lambda kv: -kv[1])[:5]
        notes.append(
            f"profiles: {result.customers:,} in {result.seconds:.1f} s; tiers {dict(result.tiers)}; "
            f"top tags {dict(top)}"
        )
