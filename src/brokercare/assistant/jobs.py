"""The assistant's scheduled jobs (``core/data/schedule.yaml``; docs/jobs.md)."""

from __future__ import annotations

from brokercare.assistant import retrain
from brokercare.core.runs import RunContext


def weekly_retrain(ctx: RunContext) -> dict:
    """``brokercare nlu retrain`` once a week: the desk's labels of the week make a candidate intent
    model, promoted only if it is no worse on the frozen evaluation set. Worker processes pick the
    promoted version up within a second (the registry re-reads the active version's marker); the
    knowledge-base matcher, trained with the intent model's view, is built for the new version here,
    so every process, running or started afterwards, loads it from the cache instead of training it."""
    with ctx.session() as session:
        result = retrain.retrain(session)
    if result.outcome == "promoted":
        from brokercare.assistant.kb.training import prepare_matcher

        prepare_matcher()
    return {k: v for k, v in result.as_dict().items() if k in ("outcome", "version", "active", "pool_rows",
                                                                 "excluded", "candidate", "worse")}


JOBS = {"weekly_retrain": weekly_retrain}
