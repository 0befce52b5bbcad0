"""A partition's behaviour events read once, every behaviour source aggregated from them in Polars.

SQLite grouping the same rows five ways (counts by window, distinct days, devices and cities,
interests, page topics, first-seen cities and devices) was a third of a nightly partition; the raw
rows cost less to read than one of those GROUP BYs. The reader is the caller's connection (a
one-customer refresh sees its own uncommitted events) or, in the nightly batch, the ADBC driver
(:func:`brokercare.core.bulkread.arrow_reads`); the aggregation below is the only one either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import Connection, or_, select

from brokercare.core.bulkread import UTC_TS, count_if, read_frame
from brokercare.customers.config import Compiled
from brokercare.customers.features import INTEREST_GROUPS
from brokercare.customers.models import BehaviourEvent

EVENT_SCHEMA = {"customer_id": pl.Int64, "at": UTC_TS, "kind": pl.String, "channel": pl.String,
                "page": pl.String, "query": pl.String, "topic": pl.String, "device_id": pl.String,
                "geo_city": pl.String, "duration_s": pl.Int64}


def read_events(conn: Connection, lo: int, hi: int, at: datetime, since: datetime) -> pl.DataFrame:
    """Events of customers ``lo..hi`` up to ``at``: all of the year from ``since``, and earlier
    logins (a city or device is new only if never seen before, however long ago)."""
    b = BehaviourEvent
    return read_frame(
        conn,
        select(b.customer_id, b.occurred_at, b.kind, b.channel, b.page, b.query, b.topic,
               b.device_id, b.geo_city, b.duration_s)
        .where(b.customer_id.between(lo, hi), b.occurred_at <= at,
               or_(b.occurred_at >= since, b.kind == "login")),
        EVENT_SCHEMA,
    )


def _distinct(col: str, cond: pl.Expr) -> pl.Expr:
    """``COUNT(DISTINCT CASE WHEN cond THEN col END)``: nulls are not a value."""
    return pl.col(col).filter(cond & pl.col(col).is_not_null()).n_unique().cast(pl.Int64)


def activity(year: pl.DataFrame, c30: pl.Expr, c90: pl.Expr) -> pl.DataFrame:
    """Logins, page views, searches, reads, session time and channel over 30/90 days, per customer
    with an event in the year (the windows are two flag columns, not a literal per count)."""
    kind, in30, in90 = pl.col("kind"), pl.col("in30"), pl.col("in90")
    login, pv = kind == "login", kind == "page_view"
    timed = kind.is_in(["page_view", "content_read"]) & in90 & pl.col("duration_s").is_not_null()
    flagged = year.with_columns(in30=pl.col("at") >= c30, in90=pl.col("at") >= c90, day=pl.col("at").dt.date())
    return flagged.group_by("customer_id").agg(
        logins_30=count_if(login & in30),
        logins_90=count_if(login & in90),
        login_days_30=_distinct("day", login & in30),
        last_login=pl.col("at").filter(login).max(),
        devices_90=_distinct("device_id", login & in90),
        cities_90=_distinct("geo_city", login & in90),
        pv_30=count_if(pv & in30),
        pv_90=count_if(pv & in90),
        searches_90=count_if((kind == "search") & in90),
        reads_90=count_if((kind == "content_read") & in90),
        dur_sum=pl.col("duration_s").filter(timed).sum().cast(pl.Float64),
        dur_n=count_if(timed),
        web_90=count_if((pl.col("channel") == "web") & in90),
        events_90=count_if(in90),
    )


def interests(year: pl.DataFrame, compiled: Compiled) -> pl.DataFrame:
    """Searches and reads over the year matching each interest group's keywords (each distinct
    text of a customer is matched once)."""
    words = compiled.config.interest_keywords
    texts = (
        year.filter(pl.col("kind").is_in(["search", "content_read"]))
        .group_by("customer_id", text=pl.col("query").fill_null("") + " " + pl.col("topic").fill_null(""))
        .agg(n=pl.len().cast(pl.Int64))
    )
    return texts.group_by("customer_id").agg(**{
        f"interest_{g}": (pl.col("n").filter(pl.col("text").str.contains_any(words[g], ascii_case_insensitive=True)).sum()
                          if words.get(g) else pl.lit(0, dtype=pl.Int64))
        for g in INTEREST_GROUPS
    })


def page_topics(year: pl.DataFrame, c90: pl.Expr) -> pl.DataFrame:
    """Page views and reads over 90 days by topic (or page when untagged)."""
    return (
        year.filter(pl.col("kind").is_in(["page_view", "content_read"]), pl.col("at") >= c90)
        .with_columns(label=pl.coalesce("topic", "page"))
        .filter(pl.col("label").is_not_null())
        .group_by("customer_id", "label").agg(n=pl.len().cast(pl.Int64))
    )


def login_places(events: pl.DataFrame, c30: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per customer and login city: first seen within 30 days, and logins from it in 30 days; per
    customer and login device: whether it was first seen within 30 days (all history)."""
    logins = events.filter(pl.col("kind") == "login")
    cities = logins.filter(pl.col("geo_city").is_not_null()).group_by("customer_id", "geo_city").agg(
        new=pl.col("at").min() >= c30, n_30=count_if(pl.col("at") >= c30))
    devices = logins.filter(pl.col("device_id").is_not_null()).group_by("customer_id", "device_id").agg(
        new=pl.col("at").min() >= c30).select("customer_id", "new")
    return cities, devices


def behaviour_sources(events: pl.DataFrame, at: datetime, compiled: Compiled) -> dict[str, pl.DataFrame]:
    """The four behaviour sources of :class:`~brokercare.customers.sources.Sources` from the
    events of :func:`read_events` (windows end at ``at``)."""
    # Each window's literal built once: converting a datetime into a Polars literal costs more
    # than the comparison itself on a one-customer refresh.
    c30, c90, c365 = (pl.lit(at - timedelta(days=d), dtype=UTC_TS) for d in (30, 90, 365))
    year = events.filter(pl.col("at") >= c365)
    behaviour = activity(year, c30, c90).join(interests(year, compiled), on="customer_id", how="left")
    cities, devices = login_places(events, c30)
    return {"behaviour": behaviour, "topics": page_topics(year, c90), "login_cities": cities,
            "login_devices": devices}
