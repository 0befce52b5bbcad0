"""What a profile is computed from: one grouped read per source, for a range of customer ids.

The database does the row-level work in C; only per-customer aggregates cross into Python. This
domain's own tables (identity, family, life events, the assessed risk, behaviour) are read here;
accounts, holdings and trading come from the accounts service's batch reads, which join the
market's instrument facts in the database. Nothing here reads another domain's table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import Connection, Float, and_, case, cast, distinct, func, select

from brokercare.core.bulkread import date_text, read_frame, sum_if
from brokercare.customers.config import Compiled
from brokercare.customers.features import INTEREST_GROUPS
from brokercare.customers.models import (
    AssessedRisk,
    BehaviourEvent,
    Customer,
    FamilyMember,
    LifeEvent,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC_TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class AsOf:
    """The moment a profile describes; windows (30/90/365 days) end here."""

    at: datetime

    @classmethod
    def now(cls) -> AsOf:
        return cls(datetime.now(UTC))

    @property
    def day(self) -> date:
        return self.at.astimezone(SHANGHAI).date()

    def ago(self, days: int) -> datetime:
        return self.at - timedelta(days=days)


@dataclass
class Sources:
    customers: pl.DataFrame
    family: pl.DataFrame
    life_events: pl.DataFrame
    holdings: pl.DataFrame
    cash: pl.DataFrame
    margin: pl.DataFrame
    movements: pl.DataFrame
    trades: pl.DataFrame
    round_trips: pl.DataFrame
    orders: pl.DataFrame
    risk: pl.DataFrame
    behaviour: pl.DataFrame
    topics: pl.DataFrame
    login_cities: pl.DataFrame
    login_devices: pl.DataFrame

    @property
    def customer_count(self) -> int:
        return self.customers.height


def load_sources(conn: Connection, lo: int, hi: int, as_of: AsOf, compiled: Compiled) -> Sources:
    """Read every source for customers with ``lo <= id <= hi``, aggregated per customer."""
    # accounts.service imports customers.service when it loads, so it is imported on first use.
    from brokercare.accounts import service as accounts

    _tune_sqlite(conn)
    at = as_of.at
    return Sources(
        customers=load_customers(conn, lo, hi),
        family=load_family(conn, lo, hi),
        life_events=load_life_events(conn, lo, hi),
        holdings=accounts.holdings_by_customer(conn, lo=lo, hi=hi),
        cash=accounts.cash_by_customer(conn, lo=lo, hi=hi),
        margin=accounts.margin_by_customer(conn, lo=lo, hi=hi),
        movements=accounts.cash_movements_by_customer(conn, lo=lo, hi=hi, at=at),
        trades=accounts.trading_by_customer(conn, lo=lo, hi=hi, at=at),
        round_trips=accounts.round_trips_by_customer(conn, lo=lo, hi=hi, at=at),
        orders=accounts.orders_by_customer(conn, lo=lo, hi=hi, at=at),
        risk=load_assessed_risk(conn, lo, hi),
        behaviour=load_behaviour(conn, lo, hi, as_of, compiled),
        topics=load_page_topics(conn, lo, hi, as_of),
        login_cities=load_login_cities(conn, lo, hi, as_of),
        login_devices=load_login_devices(conn, lo, hi, as_of),
    )


def _tune_sqlite(conn: Connection) -> None:
    """A batch reads each table once in key order: a large page cache and memory-mapped I/O spare
    SQLite most system calls (per-connection settings). Skipped inside a write transaction (an
    event handler refreshing one customer after its own writes), where SQLite refuses them."""
    if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:
        for pragma in ("cache_size=-262144", "mmap_size=1073741824", "temp_store=MEMORY"):
            conn.exec_driver_sql(f"PRAGMA {pragma}")


# -- identity, family, life events ------------------------------------------------------------


def load_customers(conn: Connection, lo: int, hi: int) -> pl.DataFrame:
    return read_frame(
        conn,
        select(
            Customer.id, Customer.gender, date_text(Customer.birth_date), Customer.province,
            Customer.city, Customer.occupation, Customer.education, cast(Customer.annual_income, Float),
            Customer.marital_status, date_text(Customer.opened_on), Customer.status,
            Customer.investor_type, Customer.wechat_openid.is_not(None), Customer.email.is_not(None),
            Customer.phone_verified,
        ).where(Customer.id.between(lo, hi)),
        {"customer_id": pl.Int64, "gender": pl.String, "birth_date": pl.String, "province": pl.String,
         "city": pl.String, "occupation": pl.String, "education": pl.String,
         "annual_income": pl.Float64, "marital_status": pl.String, "opened_on": pl.String,
         "account_status": pl.String, "investor_type": pl.String, "wechat_bound": pl.Boolean,
         "has_email": pl.Boolean, "phone_verified": pl.Boolean},
    )


def load_family(conn: Connection, lo: int, hi: int) -> pl.DataFrame:
    return read_frame(
        conn,
        select(FamilyMember.customer_id, FamilyMember.relation, FamilyMember.birth_year)
        .where(FamilyMember.customer_id.between(lo, hi)),
        {"customer_id": pl.Int64, "relation": pl.String, "birth_year": pl.Int64},
    )


def load_life_events(conn: Connection, lo: int, hi: int) -> pl.DataFrame:
    return read_frame(
        conn,
        select(LifeEvent.customer_id, LifeEvent.kind, date_text(LifeEvent.occurred_on))
        .where(LifeEvent.customer_id.between(lo, hi)),
        {"customer_id": pl.Int64, "kind": pl.String, "occurred_on": pl.String},
    )


# -- risk ---------------------------------------------------------------------------------------


def load_assessed_risk(conn: Connection, lo: int, hi: int) -> pl.DataFrame:
    """The latest assessment per customer (this domain's copy, kept by ``risk.assessed``)."""
    return read_frame(
        conn,
        select(AssessedRisk.customer_id, AssessedRisk.level, AssessedRisk.score,
               date_text(AssessedRisk.assessed_on), date_text(AssessedRisk.valid_until),
               AssessedRisk.assessments)
        .where(AssessedRisk.customer_id.between(lo, hi)),
        {"customer_id": pl.Int64, "risk_level": pl.String, "risk_score": pl.Int64,
         "assessed_on": pl.String, "valid_until": pl.String, "risk_assessment_count": pl.Int64},
    )


# -- behaviour ----------------------------------------------------------------------------------


def _interest(conn: Connection, lo: int, hi: int, as_of: AsOf, compiled: Compiled) -> pl.DataFrame:
    """Searches and reads over 365 days matching each interest group's keywords (in Polars: one
    grouped read of the distinct texts instead of a LIKE per keyword)."""
    b = BehaviourEvent
    text = func.coalesce(b.query, "") + " " + func.coalesce(b.topic, "")
    texts = read_frame(
        conn,
        select(b.customer_id, text, func.count())
        .where(b.customer_id.between(lo, hi), b.kind.in_(("search", "content_read")),
               b.occurred_at >= as_of.ago(365), b.occurred_at <= as_of.at)
        .group_by(b.customer_id, text),
        {"customer_id": pl.Int64, "text": pl.String, "n": pl.Int64},
    )
    words = compiled.config.interest_keywords
    return texts.group_by("customer_id").agg(**{
        f"interest_{g}": (pl.col("n").filter(pl.col("text").str.contains_any(words[g], ascii_case_insensitive=True)).sum()
                          if words.get(g) else pl.lit(0, dtype=pl.Int64))
        for g in INTEREST_GROUPS
    })


def load_behaviour(conn: Connection, lo: int, hi: int, as_of: AsOf, compiled: Compiled) -> pl.DataFrame:
    """Logins, page views, searches, reads and session time over 30/90 days, with interests."""
    b = BehaviourEvent
    c30, c90 = as_of.ago(30), as_of.ago(90)
    login, pv, srch, read = b.kind == "login", b.kind == "page_view", b.kind == "search", b.kind == "content_read"
    viewed = b.kind.in_(("page_view", "content_read"))
    interest = _interest(conn, lo, hi, as_of, compiled)
    return read_frame(
        conn,
        select(
            b.customer_id,
            sum_if(and_(login, b.occurred_at >= c30)), sum_if(and_(login, b.occurred_at >= c90)),
            func.count(distinct(case((and_(login, b.occurred_at >= c30), func.date(b.occurred_at))))),
            func.max(case((login, b.occurred_at))),
            func.count(distinct(case((and_(login, b.occurred_at >= c90), b.device_id)))),
            func.count(distinct(case((and_(login, b.occurred_at >= c90), b.geo_city)))),
            sum_if(and_(pv, b.occurred_at >= c30)), sum_if(and_(pv, b.occurred_at >= c90)),
            sum_if(and_(srch, b.occurred_at >= c90)), sum_if(and_(read, b.occurred_at >= c90)),
            cast(sum_if(and_(viewed, b.occurred_at >= c90, b.duration_s.is_not(None)), b.duration_s), Float),
            sum_if(and_(viewed, b.occurred_at >= c90, b.duration_s.is_not(None))),
            sum_if(and_(b.channel == "web", b.occurred_at >= c90)), sum_if(b.occurred_at >= c90),
        )
        .where(b.customer_id.between(lo, hi), b.occurred_at >= as_of.ago(365), b.occurred_at <= as_of.at)
        .group_by(b.customer_id),
        {"customer_id": pl.Int64, "logins_30": pl.Int64, "logins_90": pl.Int64,
         "login_days_30": pl.Int64, "last_login": UTC_TS, "devices_90": pl.Int64,
         "cities_90": pl.Int64, "pv_30": pl.Int64, "pv_90": pl.Int64, "searches_90": pl.Int64,
         "reads_90": pl.Int64, "dur_sum": pl.Float64, "dur_n": pl.Int64, "web_90": pl.Int64,
         "events_90": pl.Int64},
    ).join(interest, on="customer_id", how="left")


def load_page_topics(conn: Connection, lo: int, hi: int, as_of: AsOf) -> pl.DataFrame:
    """Page views and reads over 90 days by topic (or page when untagged)."""
    b = BehaviourEvent
    label = func.coalesce(b.topic, b.page)
    return read_frame(
        conn,
        select(b.customer_id, label, func.count())
        .where(b.customer_id.between(lo, hi), b.kind.in_(("page_view", "content_read")),
               b.occurred_at >= as_of.ago(90), b.occurred_at <= as_of.at, label.is_not(None))
        .group_by(b.customer_id, label),
        {"customer_id": pl.Int64, "label": pl.String, "n": pl.Int64},
    )


def load_login_cities(conn: Connection, lo: int, hi: int, as_of: AsOf) -> pl.DataFrame:
    """Per customer and login city: first seen within 30 days, and logins from it in 30 days."""
    b = BehaviourEvent
    c30 = as_of.ago(30)
    return read_frame(
        conn,
        select(b.customer_id, b.geo_city, case((func.min(b.occurred_at) >= c30, True), else_=False),
               sum_if(b.occurred_at >= c30))
        .where(b.customer_id.between(lo, hi), b.kind == "login", b.geo_city.is_not(None),
               b.occurred_at <= as_of.at)
        .group_by(b.customer_id, b.geo_city),
        {"customer_id": pl.Int64, "geo_city": pl.String, "new": pl.Boolean, "n_30": pl.Int64},
    )


def load_login_devices(conn: Connection, lo: int, hi: int, as_of: AsOf) -> pl.DataFrame:
    """Per customer and login device: whether it was first seen within 30 days."""
    b = BehaviourEvent
    return read_frame(
        conn,
        select(b.customer_id, case((func.min(b.occurred_at) >= as_of.ago(30), True), else_=False))
        .where(b.customer_id.between(lo, hi), b.kind == "login", b.device_id.is_not(None),
               b.occurred_at <= as_of.at)
        .group_by(b.customer_id, b.device_id),
        {"customer_id": pl.Int64, "new": pl.Boolean},
    )
