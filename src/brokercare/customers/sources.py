"""What a profile is computed from: one grouped read per source, for a range of customer ids.

This domain's own tables (identity, family, life events, the assessed risk, behaviour) are read
here, behaviour as raw events aggregated in Polars (:mod:`brokercare.customers.behaviour`);
accounts, holdings and trading come from the accounts service's batch reads, which join the
market's instrument facts in the database. Nothing here reads another domain's table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import Connection, Float, cast, select

from brokercare.core.bulkread import date_text, read_frame
from brokercare.customers.behaviour import behaviour_sources, read_events
from brokercare.customers.config import Compiled
from brokercare.customers.models import (
    AssessedRisk,
    Customer,
    FamilyMember,
    LifeEvent,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


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
    trades, round_trips = accounts.trades_by_customer(conn, lo=lo, hi=hi, at=at)
    return Sources(
        customers=load_customers(conn, lo, hi),
        family=load_family(conn, lo, hi),
        life_events=load_life_events(conn, lo, hi),
        holdings=accounts.holdings_by_customer(conn, lo=lo, hi=hi),
        cash=accounts.cash_by_customer(conn, lo=lo, hi=hi),
        margin=accounts.margin_by_customer(conn, lo=lo, hi=hi),
        movements=accounts.cash_movements_by_customer(conn, lo=lo, hi=hi, at=at),
        trades=trades,
        round_trips=round_trips,
        orders=accounts.orders_by_customer(conn, lo=lo, hi=hi, at=at),
        risk=load_assessed_risk(conn, lo, hi),
        **behaviour_sources(read_events(conn, lo, hi, at, as_of.ago(365)), at, compiled),
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
