"""Customer journeys and their funnels (seed 3.3): where customers drop out.

Steps arrive as ``journey.step`` events (the vocabulary: :mod:`brokercare.core.journeys`), and
two events other domains already publish count as steps too — ``risk.assessed`` is the risk
questionnaire's ``submitted`` step, ``transfer.completed`` the bank transfer's ``confirmed`` —
so a domain that publishes only the earlier steps completes its funnel. Chat-to-resolution needs
no events: it is read from the hub's conversations with the KPI definitions (closed, then not
re-contacted within 24 h).

A journey instance (its ``ref``) belongs to the period its first step fell in; it *reached* step k
when any step numbered k or later was recorded (steps are in order; a later step implies the
earlier). Its drop-out step is the first step it did not reach.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from brokercare.core.bulkread import read_frame
from brokercare.core.bus import Event, EventBus, get_bus
from brokercare.core.database import session_factory
from brokercare.core.journeys import JOURNEY_STEP, JOURNEYS, JourneyStep, step_number
from brokercare.quality.models import JourneyStepRecord

log = logging.getLogger(__name__)

CONSUMER = "quality.journeys"
RISK_ASSESSED = "risk.assessed"  # advisory's event
TRANSFER_COMPLETED = "transfer.completed"  # accounts' event
TIME = pl.Datetime("us", "UTC")
#: An instance whose first step lies this far before the period is not mistaken for a new one.
LOOKBACK = timedelta(days=62)


def record(session: Session, steps: list[JourneyStep]) -> int:
    """Store steps; a step already stored (a redelivered event) is left as it is. Returns how
    many were new."""
    if not steps:
        return 0
    rows = [{"journey": s.journey, "step": s.step, "step_no": step_number(s.journey, s.step), "ref": s.ref,
             "customer_id": s.customer_id, "channel": s.channel, "occurred_at": s.at} for s in steps]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(JourneyStepRecord).on_conflict_do_nothing(index_elements=["journey", "ref", "step"])
    return len(session.execute(stmt.returning(JourneyStepRecord.id), rows).all())


def step_of(event: Event) -> JourneyStep | None:
    """The journey step an event stands for (None: not one)."""
    p = event.payload
    if event.type == JOURNEY_STEP:
        return JourneyStep.model_validate(p)
    if event.type == RISK_ASSESSED:
        return JourneyStep(journey="risk_questionnaire", step="submitted", ref=f"risk:{p['customer_id']}:{p['assessed_on']}",
                           customer_id=p["customer_id"], channel=p.get("channel"), at=event.occurred_at)
    if event.type == TRANSFER_COMPLETED:
        return JourneyStep(journey="bank_transfer", step="confirmed", ref=f"transfer:{p['transfer_no']}",
                           customer_id=event.customer_id, at=event.occurred_at)
    return None


def on_event(event: Event) -> None:
    """Bus handler: the step stored once however often the bus delivers it."""
    step = step_of(event)
    if step is None:
        return
    session = session_factory()()
    try:
        with session.begin():
            record(session, [step])
    finally:
        session.close()


def subscribe(bus: EventBus | None = None) -> None:
    bus = bus or get_bus()
    for event_type in (JOURNEY_STEP, RISK_ASSESSED, TRANSFER_COMPLETED):
        bus.subscribe(event_type, on_event, group=CONSUMER)


def instances(conn: Connection, journey: str, start: datetime, end: datetime) -> pl.DataFrame:
    """One row per instance of ``journey`` begun in ``[start, end)``: its furthest step number,
    customer and the channel of its first step (grouped in Polars from the period's steps)."""
    rows = read_frame(conn, select(JourneyStepRecord.ref, JourneyStepRecord.step_no, JourneyStepRecord.customer_id,
                                   JourneyStepRecord.channel, JourneyStepRecord.occurred_at)
                      .where(JourneyStepRecord.journey == journey,
                             JourneyStepRecord.occurred_at >= start - LOOKBACK),
                      {"ref": pl.String, "step_no": pl.Int64, "customer_id": pl.Int64, "channel": pl.String,
                       "occurred_at": TIME})
    return (rows.sort("occurred_at").group_by("ref", maintain_order=True)
            .agg(pl.col("occurred_at").first().alias("began_at"), pl.col("step_no").max().alias("reached"),
                 pl.col("customer_id").drop_nulls().first(), pl.col("channel").drop_nulls().first())
            .filter((pl.col("began_at") >= start.astimezone(UTC)) & (pl.col("began_at") < end.astimezone(UTC))))


def chat_instances(conversations: pl.DataFrame) -> pl.DataFrame:
    """Chat-to-resolution from the period's conversations (:func:`quality.kpis.conversation_rows`):
    started; closed; resolved — closed and the customer not back within 24 h."""
    closed = pl.col("closed_at").is_not_null()
    return conversations.select(
        pl.col("conversation_id").cast(pl.String).alias("ref"),
        (1 + closed.cast(pl.Int64) + (closed & ~pl.col("recontact_24h")).cast(pl.Int64)).alias("reached"),
        "customer_id", "channel")


@dataclass(frozen=True)
class Funnel:
    journey: str
    steps: pl.DataFrame  # step_no, step, label, reached, conversion (of the step before), previous_conversion
    drop_outs: dict[str, pl.DataFrame]  # channel / tier -> key, instances, completed, drop_step (most common)
    started: int
    completed: int
    previous_started: int
    previous_completed: int


def step_table(reached: pl.Series, journey: str) -> pl.DataFrame:
    """How many instances reached each step, and each step's conversion from the one before."""
    names = JOURNEYS[journey]
    counts = [int((reached >= k).sum()) for k in range(1, len(names) + 1)]
    before = [None, *counts[:-1]]
    return pl.DataFrame({"step_no": list(range(1, len(names) + 1)), "step": [n for n, _ in names],
                         "label": [label for _, label in names], "reached": counts,
                         "conversion": [None if not b else c / b for c, b in zip(counts, before, strict=True)]},
                        schema_overrides={"conversion": pl.Float64})


def drop_outs(frame: pl.DataFrame, last: int, dim: str) -> pl.DataFrame:
    """Per key of ``dim``: instances, completed, and the step most of the others dropped out at."""
    stopped = frame.filter(pl.col("reached") < last).with_columns(drop_step=pl.col("reached") + 1)
    totals = frame.group_by(pl.col(dim).alias("key")).agg(
        pl.len().alias("instances"), (pl.col("reached") >= last).sum().alias("completed"))
    worst = (stopped.group_by(pl.col(dim).alias("key"), "drop_step").agg(pl.len().alias("dropped"))
             .sort("dropped", "drop_step", descending=[True, False]).group_by("key", maintain_order=True).first())
    return totals.join(worst.select("key", "drop_step", "dropped"), on="key", how="left", nulls_equal=True)


def funnel(current: pl.DataFrame, previous: pl.DataFrame, journey: str, tiers: pl.DataFrame) -> Funnel:
    """The funnel of the period's instances, against the previous period's."""
    last = len(JOURNEYS[journey])
    now_steps, before = step_table(current["reached"], journey), step_table(previous["reached"], journey)
    steps = now_steps.with_columns(previous_conversion=before["conversion"])
    with_tier = current.join(tiers.select("customer_id", "tier"), on="customer_id", how="left")
    return Funnel(journey, steps, {dim: drop_outs(with_tier, last, dim) for dim in ("channel", "tier")},
                  current.height, int((current["reached"] >= last).sum()), previous.height,
                  int((previous["reached"] >= last).sum()))
