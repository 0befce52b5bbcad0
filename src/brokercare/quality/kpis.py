"""The KPI computations: the hub's and the outbox's frames in, one row of figures per slice out.

Pure Polars over whole columns (no loop per conversation), so a month of a large broker — a
million customers, millions of messages — is a handful of group-bys. Each family of figures
(conversations, tickets, SLA clocks, CSAT, complaints, alerts) adds the columns its definition
needs, then every family is grouped by each dimension it carries and the families are joined
side by side. The definitions and their windows are in :mod:`brokercare.quality.definitions`
and written out in docs/quality.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from brokercare.quality.definitions import (
    COMPLAINT_INTENT,
    P90,
    RECONTACT_WINDOW,
    REPEAT_WINDOW,
)

SHANGHAI_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Frames:
    """What the KPIs of one period are computed from (see :func:`brokercare.quality.service.kpis`)."""

    conversations: pl.DataFrame  # the period's
    neighbours: pl.DataFrame  # who started one when, just before and after the period
    tickets: pl.DataFrame
    sla_clocks: pl.DataFrame
    csat: pl.DataFrame
    complaint_feedback: pl.DataFrame
    alerts: pl.DataFrame  # outbox counts by channel, kind, state, day
    tiers: pl.DataFrame  # customer_id, tier, open


def _day(col: str) -> pl.Expr:
    return pl.col(col).dt.convert_time_zone(SHANGHAI_TZ).dt.date().cast(pl.String).alias("day")


def _in(col: str, start: datetime, end: datetime) -> pl.Expr:
    return (pl.col(col) >= start.astimezone(UTC)) & (pl.col(col) < end.astimezone(UTC))


def _seconds(late: str, early: str) -> pl.Expr:
    return (pl.col(late) - pl.col(early)).dt.total_microseconds() / 1e6


def _with_tier(frame: pl.DataFrame, tiers: pl.DataFrame) -> pl.DataFrame:
    return frame.join(tiers.select("customer_id", "tier"), on="customer_id", how="left")


def _dims(frame: pl.DataFrame, day_col: str) -> pl.DataFrame:
    """The slice columns: ``team`` is the team lead's id, ``agent`` the member of staff's."""
    return frame.with_columns(_day(day_col), pl.col("team_lead_id").alias("team"),
                              pl.col("agent_id").alias("agent"))


# --- each family: its rows of the period with the columns its definition needs ----------------

def conversation_rows(conv: pl.DataFrame, neighbours: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Conversations started in the period, with ``repeat_7d`` (the contact started another in
    the 7 days before), ``recontact_24h`` (the contact came back within 24 h of its close),
    ``contained`` and ``first_response_s``.

    A contact's threads do not overlap (the hub keeps one open thread per contact), so sorted by
    contact and start, the row before is the contact's previous conversation and the row after
    its next: two shifts instead of a window or an as-of join per contact. ``neighbours`` are the
    contacts' conversation starts just outside the period (only who and when)."""
    conv = pl.concat([conv, neighbours], how="diagonal").sort("contact_id", "started_at", "conversation_id")
    same_before = pl.col("contact_id").shift(1) == pl.col("contact_id")
    same_after = pl.col("contact_id").shift(-1) == pl.col("contact_id")
    previous = pl.when(same_before).then(pl.col("started_at").shift(1))
    following = pl.when(same_after).then(pl.col("started_at").shift(-1))
    conv = conv.with_columns(repeat_7d=(pl.col("started_at") - previous <= REPEAT_WINDOW).fill_null(False),
                             next_start=following)
    back = pl.col("next_start") - pl.col("closed_at")
    recontact = ((back > timedelta(0)) & (back <= RECONTACT_WINDOW)).fill_null(False)
    return conv.filter(_in("started_at", start, end)).with_columns(
        recontact_24h=recontact,
        contained=pl.col("closed_at").is_not_null() & ~pl.col("human") & ~pl.col("has_ticket") & ~recontact,
        first_response_s=_seconds("first_human_response_at", "waiting_since"),
    )


def conversation_metrics() -> list[pl.Expr]:
    frt = pl.col("first_response_s")
    return [pl.len().alias("conversations"), pl.col("human").sum().alias("handed_off"),
            pl.col("closed_at").is_not_null().sum().alias("closed"),
            pl.col("contained").sum().alias("ai_contained"),
            frt.median().alias("first_response_median_s"),
            frt.quantile(P90, "linear").alias("first_response_p90_s"),
            pl.col("repeat_7d").sum().alias("repeat_contacts")]


def resolved_ticket_rows(tickets: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Tickets resolved in the period, with their resolution time in hours."""
    return tickets.filter(_in("resolved_at", start, end)).with_columns(
        resolution_h=_seconds("resolved_at", "created_at") / 3600)


def ticket_metrics() -> list[pl.Expr]:
    hours = pl.col("resolution_h")
    return [pl.len().alias("tickets_resolved"), hours.median().alias("resolution_median_h"),
            hours.quantile(P90, "linear").alias("resolution_p90_h"),
            (pl.col("reopen_count") > 0).sum().alias("tickets_reopened")]


def sla_rows(clocks: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Clocks due in the period: ``breached`` (marked, met late, or unmet past due at ``as_of``)
    and ``near_breach`` (met on time, but after the warning time)."""
    met, due = pl.col("met_at"), pl.col("due_at")
    breached = pl.col("breached_at").is_not_null() | (met > due) | (met.is_null() & (due <= as_of))
    return clocks.with_columns(breached=breached,
                               near_breach=~breached & met.is_not_null() & (met >= pl.col("warn_at")))


def sla_metrics() -> list[pl.Expr]:
    return [pl.len().alias("sla_clocks"), pl.col("breached").sum().alias("sla_breaches"),
            pl.col("near_breach").sum().alias("sla_near_breaches")]


def csat_metrics() -> list[pl.Expr]:
    score = pl.col("score")
    return [pl.len().alias("csat_sent"), score.is_not_null().sum().alias("csat_responses"),
            score.mean().alias("csat_average"), (score >= 4).sum().alias("csat_satisfied")]


def complaint_rows(tickets: pl.DataFrame, feedback: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Complaint tickets opened in the period (by intent or by source), and complaint feedback
    that did not become a ticket: one row per complaint."""
    opened = tickets.filter(_in("created_at", start, end) & (
        (pl.col("intent") == COMPLAINT_INTENT) | (pl.col("source") == COMPLAINT_INTENT)))
    cols = ["customer_id", "channel", "intent", "created_at"]
    return pl.concat([opened.select(cols), feedback.select(cols)])


def complaint_metrics() -> list[pl.Expr]:
    return [pl.len().alias("complaints")]


def alert_metrics() -> list[pl.Expr]:
    n, state = pl.col("messages"), pl.col("state")
    return [n.sum().alias("alerts_queued"), n.filter(state == "sent").sum().alias("alerts_delivered"),
            n.filter(state == "dead").sum().alias("alerts_failed")]


# --- grouping and the rates ---------------------------------------------------------------------

def families(frames: Frames, start: datetime, end: datetime, as_of: datetime) -> list[tuple[pl.DataFrame, list[pl.Expr]]]:
    """Each family's rows of the period with its slice columns, and its aggregations."""
    tiers = frames.tiers
    conv = _dims(_with_tier(conversation_rows(frames.conversations, frames.neighbours, start, end), tiers),
                 "started_at")
    tickets = _dims(_with_tier(resolved_ticket_rows(frames.tickets, start, end), tiers), "resolved_at")
    clocks = _dims(_with_tier(sla_rows(frames.sla_clocks, as_of), tiers), "due_at")
    csat = _dims(_with_tier(frames.csat, tiers), "sent_at")
    complaints = _with_tier(complaint_rows(frames.tickets, frames.complaint_feedback, start, end), tiers)
    complaints = complaints.with_columns(_day("created_at"))
    return [(conv, conversation_metrics()), (tickets, ticket_metrics()), (clocks, sla_metrics()),
            (csat, csat_metrics()), (complaints, complaint_metrics()), (frames.alerts, alert_metrics())]


def _aggregate(frame: pl.DataFrame, metrics: list[pl.Expr], dim: str | None) -> pl.DataFrame | None:
    if dim is None:
        return frame.select(metrics)
    if dim not in frame.columns:
        return None
    return frame.group_by(pl.col(dim).cast(pl.String).alias("key")).agg(metrics)


def _customers(tiers: pl.DataFrame, dim: str | None) -> pl.DataFrame | pl.Expr:
    """Open customers: per tier on the tier slice, the whole base everywhere else."""
    open_ = tiers.filter(pl.col("open"))
    if dim == "tier":
        return open_.group_by(pl.col("tier").alias("key")).agg(pl.len().alias("customers"))
    return pl.lit(open_.height).alias("customers")


def _rates() -> list[pl.Expr]:
    def rate(n: str, d: pl.Expr | str) -> pl.Expr:
        d = pl.col(d) if isinstance(d, str) else d
        return pl.when(d > 0).then(pl.col(n) / d).otherwise(None)

    return [rate("ai_contained", "closed").alias("ai_containment_rate"),
            rate("repeat_contacts", "conversations").alias("repeat_contact_rate"),
            rate("sla_breaches", "sla_clocks").alias("sla_breach_rate"),
            rate("tickets_reopened", "tickets_resolved").alias("reopen_rate"),
            rate("csat_responses", "csat_sent").alias("csat_response_rate"),
            rate("csat_satisfied", "csat_responses").alias("csat_satisfied_rate"),
            (rate("complaints", "customers") * 10_000).alias("complaints_per_10k"),
            rate("alerts_delivered", pl.col("alerts_delivered") + pl.col("alerts_failed"))
            .alias("alerts_delivery_rate")]


FIGURES = ("first_response_median_s", "first_response_p90_s", "resolution_median_h", "resolution_p90_h",
           "csat_average")
COUNTS = ("conversations", "handed_off", "closed", "ai_contained", "repeat_contacts", "tickets_resolved", "tickets_reopened",
          "sla_clocks", "sla_breaches", "sla_near_breaches", "csat_sent", "csat_responses", "csat_satisfied",
          "complaints", "alerts_queued", "alerts_delivered", "alerts_failed")
FIGURES += COUNTS


def compute(frames: Frames, start: datetime, end: datetime, as_of: datetime,
            dims: list[str | None]) -> list[pl.DataFrame]:
    """The figures of the period per entry of ``dims``: one row in all (None) or one row per key
    of the dimension. The families' rows are prepared once for all the slices."""
    start, end, as_of = (moment.astimezone(UTC) for moment in (start, end, as_of))
    prepared = families(frames, start, end, as_of)
    return [_slice(prepared, frames.tiers, dim) for dim in dims]


def _slice(prepared: list[tuple[pl.DataFrame, list[pl.Expr]]], tiers: pl.DataFrame, dim: str | None) -> pl.DataFrame:
    parts = [p for f, m in prepared if (p := _aggregate(f, m, dim)) is not None]
    if dim is None:
        out = pl.concat(parts, how="horizontal")
    else:
        out = parts[0]
        for part in parts[1:]:
            out = out.join(part, on="key", how="full", coalesce=True, nulls_equal=True)
    customers = _customers(tiers, dim)
    out = (out.join(customers, on="key", how="left", nulls_equal=True) if isinstance(customers, pl.DataFrame)
           else out.with_columns(customers))
    present = [c for c in COUNTS if c in out.columns]
    # A family without the slice's dimension (alerts by tier) has no figure there, not zero.
    absent = [pl.lit(None, pl.Int64 if c in COUNTS else pl.Float64).alias(c) for c in FIGURES if c not in out.columns]
    out = out.with_columns(pl.col(present).fill_null(0).cast(pl.Int64), *absent)
    return out.with_columns(_rates())
