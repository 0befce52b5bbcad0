"""Profile computation: SQL aggregation per customer, then pure Polars over a partition.

A partition is a range of customer ids. :func:`load_sources` runs one grouped query per source
table (the database does the row-level work in C; only per-customer aggregates cross into Python),
:func:`compute_features` turns those frames into one row of registry features per customer, and
:func:`classify` adds tier, high-net-worth flag, life stage and tags from the configuration. The
last two are pure functions of their inputs, so the nightly batch (loop, process pool or Dask) and
the incremental update of one customer after an event run the very same code.

Money is carried as integer fen until the end so tier boundaries compare exactly (a customer with
exactly 500,000.00 元 is 大众, one with 499,999.99 元 is 长尾).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    select,
)

from brokercare.accounts.models import Account, CashMovement, MarginContract, Order, Position, Trade
from brokercare.customers.config import Compiled, city_tiers
from brokercare.customers.features import FEATURES, INTEREST_GROUPS, NULLABLE, PAGE_TOPICS
from brokercare.customers.models import (
    BehaviourEvent,
    Customer,
    FamilyMember,
    LifeEvent,
    RiskAssessment,
)
from brokercare.market.models import Instrument

SHANGHAI = ZoneInfo("Asia/Shanghai")
_POLARS = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.String}


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


# --------------------------------------------------------------------------------------------
# Loading: one grouped query per source


def _frame(conn: Connection, stmt, schema: dict[str, pl.DataType]) -> pl.DataFrame:  # noqa: ANN001
    """Run ``stmt`` and build a frame straight from the driver's tuples.

    Bind parameters go through SQLAlchemy as usual, but rows are read from the DBAPI cursor:
    per-value result processing (datetime parsing above all) costs more than the query itself
    on a large partition, and Polars converts whole columns at once instead. SQLite hands back
    timestamps as text and booleans as integers; PostgreSQL as native objects.
    """
    cursor = conn.execute(stmt).cursor
    rows = cursor.fetchall()
    cursor.close()
    if conn.dialect.name != "sqlite":
        return pl.DataFrame(rows, schema=schema, orient="row")
    raw = {name: (pl.String if isinstance(dt, pl.Datetime) else pl.Int64 if dt == pl.Boolean else dt)
           for name, dt in schema.items()}
    frame = pl.DataFrame(rows, schema=raw, orient="row")
    fixes = [
        pl.col(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_zone="UTC", time_unit="us", strict=False)
        if isinstance(dt, pl.Datetime) else pl.col(name).cast(pl.Boolean)
        for name, dt in schema.items() if isinstance(dt, pl.Datetime) or dt == pl.Boolean
    ]
    return frame.with_columns(fixes) if fixes else frame


def _fen(expr):  # noqa: ANN001, ANN202
    """Round a money expression to whole fen as a BIGINT (exact on both backends)."""
    return cast(func.round(expr * 100), BigInteger)


def _sum_if(cond, value=1):  # noqa: ANN001, ANN202
    return func.coalesce(func.sum(case((cond, value), else_=0)), 0)


def _date_str(col):  # noqa: ANN001, ANN202
    return cast(col, String)


def load_sources(
    conn: Connection, lo: int, hi: int, as_of: AsOf, compiled: Compiled
) -> Sources:
    """Read every source for customers with ``lo <= id <= hi``, aggregated per customer."""
    if conn.dialect.name == "sqlite":
        # A batch reads each table once in key order: a large page cache and memory-mapped I/O
        # spare SQLite most system calls (per-connection settings, harmless elsewhere).
        for pragma in ("cache_size=-262144", "mmap_size=1073741824", "temp_store=MEMORY"):
            conn.exec_driver_sql(f"PRAGMA {pragma}")
    c30, c90, c365 = as_of.ago(30), as_of.ago(90), as_of.ago(365)
    in_range = Customer.id.between(lo, hi)
    acct_range = Account.customer_id.between(lo, hi)

    customers = _frame(
        conn,
        select(
            Customer.id, Customer.gender, _date_str(Customer.birth_date), Customer.province,
            Customer.city, Customer.occupation, Customer.education, cast(Customer.annual_income, Float),
            Customer.marital_status, _date_str(Customer.opened_on), Customer.status,
            Customer.investor_type, Customer.wechat_openid.is_not(None), Customer.email.is_not(None),
            Customer.phone_verified,
        ).where(in_range),
        {"customer_id": pl.Int64, "gender": pl.String, "birth_date": pl.String, "province": pl.String,
         "city": pl.String, "occupation": pl.String, "education": pl.String,
         "annual_income": pl.Float64, "marital_status": pl.String, "opened_on": pl.String,
         "account_status": pl.String, "investor_type": pl.String, "wechat_bound": pl.Boolean,
         "has_email": pl.Boolean, "phone_verified": pl.Boolean},
    )
    family = _frame(
        conn,
        select(FamilyMember.customer_id, FamilyMember.relation, FamilyMember.birth_year).where(
            FamilyMember.customer_id.between(lo, hi)
        ),
        {"customer_id": pl.Int64, "relation": pl.String, "birth_year": pl.Int64},
    )
    life_events = _frame(
        conn,
        select(LifeEvent.customer_id, LifeEvent.kind, _date_str(LifeEvent.occurred_on)).where(
            LifeEvent.customer_id.between(lo, hi)
        ),
        {"customer_id": pl.Int64, "kind": pl.String, "occurred_on": pl.String},
    )

    price = func.coalesce(Instrument.last_price, Position.cost_price)
    mv = func.round(Position.quantity * price * 100)
    cost = func.round(Position.quantity * Position.cost_price * 100)
    mv_yuan = Position.quantity * price
    holdings = _frame(
        conn,
        select(
            Account.customer_id, Account.kind, Instrument.kind, Instrument.board, Instrument.currency,
            Instrument.risk_rating, Instrument.is_st,
            func.count(), cast(func.sum(mv), BigInteger), cast(func.sum(cost), BigInteger),
            cast(func.sum(mv_yuan * mv_yuan), Float), cast(func.max(mv), BigInteger),
            _sum_if(mv < cost), _date_str(func.min(Position.opened_on)),
        )
        .select_from(Position)
        .join(Account, Account.id == Position.account_id)
        .join(Instrument, Instrument.symbol == Position.symbol)
        .where(acct_range, Position.quantity > 0)
        .group_by(Account.customer_id, Account.kind, Instrument.kind, Instrument.board,
                  Instrument.currency, Instrument.risk_rating, Instrument.is_st),
        {"customer_id": pl.Int64, "account_kind": pl.String, "kind": pl.String, "board": pl.String,
         "currency": pl.String, "risk_rating": pl.String, "is_st": pl.Boolean, "n": pl.Int64,
         "mv": pl.Int64, "cost": pl.Int64, "mv2": pl.Float64, "max_mv": pl.Int64,
         "losing": pl.Int64, "first_opened": pl.String},
    )
    cash = _frame(
        conn,
        select(
            Account.customer_id, Account.kind, Account.currency, func.count(),
            cast(func.sum(_fen(Account.cash_balance)), BigInteger),
            cast(func.sum(_fen(Account.frozen_cash)), BigInteger),
        )
        .where(acct_range, Account.status != "closed")
        .group_by(Account.customer_id, Account.kind, Account.currency),
        {"customer_id": pl.Int64, "account_kind": pl.String, "currency": pl.String, "n": pl.Int64,
         "cash": pl.Int64, "frozen": pl.Int64},
    )
    # 融券 shares owed at the reference price, as the workbench and the margin monitor value them
    from brokercare.accounts.service import lending_debt_sql

    margin = _frame(
        conn,
        select(
            Account.customer_id,
            cast(func.sum(_fen(MarginContract.financing_debt)), BigInteger),
            cast(func.sum(_fen(lending_debt_sql())), BigInteger),
            cast(func.sum(_fen(MarginContract.interest_due)), BigInteger),
            cast(func.sum(_fen(MarginContract.credit_limit)), BigInteger),
            cast(func.max(MarginContract.warning_line), Float),
            cast(func.max(MarginContract.liquidation_line), Float),
            _date_str(func.min(MarginContract.end_on)),
        )
        .join(Account, Account.id == MarginContract.account_id)
        .where(acct_range, MarginContract.status == "active")
        .group_by(Account.customer_id),
        {"customer_id": pl.Int64, "financing": pl.Int64, "lending": pl.Int64, "interest": pl.Int64,
         "credit_limit": pl.Int64, "warning_line": pl.Float64, "liquidation_line": pl.Float64,
         "contract_end": pl.String},
    )
    cm = CashMovement
    bank = cm.kind.in_(("bank_in", "bank_out"))
    done = cm.status == "done"
    movements = _frame(
        conn,
        select(
            Account.customer_id,
            cast(_sum_if(and_(bank, done, cm.occurred_at >= c30), _fen(cm.amount)), BigInteger),
            cast(_sum_if(and_(bank, done, cm.occurred_at >= c90), _fen(cm.amount)), BigInteger),
            cast(_sum_if(and_(bank, done, cm.occurred_at >= c365), _fen(cm.amount)), BigInteger),
            _sum_if(and_(cm.kind == "bank_in", done, cm.occurred_at >= c90)),
            _sum_if(and_(cm.kind == "bank_out", done, cm.occurred_at >= c90)),
            cast(func.coalesce(func.min(case((and_(cm.kind == "bank_out", done, cm.occurred_at >= c90),
                                                _fen(cm.amount)))), 0), BigInteger),
            cast(_sum_if(and_(cm.kind == "dividend", cm.occurred_at >= c365), _fen(cm.amount)), BigInteger),
            cast(_sum_if(and_(cm.kind == "margin_interest", cm.occurred_at >= c365), _fen(cm.amount)),
                 BigInteger),
            func.max(case((and_(bank, done), cm.occurred_at))),
        )
        .join(Account, Account.id == cm.account_id)
        .where(acct_range, cm.occurred_at <= as_of.at)
        .group_by(Account.customer_id),
        {"customer_id": pl.Int64, "net_30": pl.Int64, "net_90": pl.Int64, "net_365": pl.Int64,
         "in_90": pl.Int64, "out_90": pl.Int64, "min_out_90": pl.Int64, "dividend_365": pl.Int64,
         "margin_interest_365": pl.Int64, "last_transfer": pl.Datetime("us", "UTC")},
    )
    t = Trade
    growth = Instrument.board.in_(("chinext", "star"))
    fees = _fen(t.commission) + _fen(t.stamp_duty) + _fen(t.transfer_fee)
    trades = _frame(
        conn,
        select(
            Account.customer_id,
            _sum_if(t.traded_at >= c30), _sum_if(t.traded_at >= c90), func.count(),
            _sum_if(t.side == "buy"), _sum_if(t.side == "sell"),
            cast(_sum_if(t.traded_at >= c30, _fen(t.amount)), BigInteger),
            cast(_sum_if(t.traded_at >= c90, _fen(t.amount)), BigInteger),
            cast(func.sum(_fen(t.amount)), BigInteger),
            func.count(distinct(t.symbol)),
            func.count(distinct(case((t.traded_at >= c30, func.date(t.traded_at))))),
            func.count(distinct(case((t.traded_at >= c90, func.date(t.traded_at))))),
            cast(func.sum(fees), BigInteger),
            cast(_sum_if(growth, _fen(t.amount)), BigInteger),
            func.max(t.traded_at),
        )
        .join(Account, Account.id == t.account_id)
        .join(Instrument, Instrument.symbol == t.symbol)
        .where(acct_range, t.traded_at >= c365, t.traded_at <= as_of.at)
        .group_by(Account.customer_id),
        {"customer_id": pl.Int64, "n_30": pl.Int64, "n_90": pl.Int64, "n_365": pl.Int64,
         "buys": pl.Int64, "sells": pl.Int64, "amt_30": pl.Int64, "amt_90": pl.Int64,
         "amt_365": pl.Int64, "symbols": pl.Int64, "days_30": pl.Int64, "days_90": pl.Int64,
         "fees": pl.Int64, "growth_amt": pl.Int64, "last_trade": pl.Datetime("us", "UTC")},
    )
    buy, sell = t.side == "buy", t.side == "sell"
    round_trips = _frame(
        conn,
        select(
            Account.customer_id,
            cast(_sum_if(buy, t.amount), Float), cast(_sum_if(buy, t.quantity), Float),
            cast(_sum_if(sell, t.amount), Float), cast(_sum_if(sell, t.quantity), Float),
            func.min(case((buy, t.traded_at))), func.min(case((sell, t.traded_at))),
            cast(func.max(Position.cost_price), Float),
        )
        .join(Account, Account.id == t.account_id)
        .outerjoin(Position, and_(Position.account_id == t.account_id, Position.symbol == t.symbol))
        .where(acct_range, t.traded_at >= c365, t.traded_at <= as_of.at)
        .group_by(Account.customer_id, t.account_id, t.symbol),
        {"customer_id": pl.Int64, "buy_amt": pl.Float64, "buy_qty": pl.Float64,
         "sell_amt": pl.Float64, "sell_qty": pl.Float64, "first_buy": pl.Datetime("us", "UTC"),
         "first_sell": pl.Datetime("us", "UTC"), "cost_price": pl.Float64},
    )
    orders = _frame(
        conn,
        select(Account.customer_id, func.count(), _sum_if(Order.status == "cancelled"))
        .join(Account, Account.id == Order.account_id)
        .where(acct_range, Order.placed_at >= c90, Order.placed_at <= as_of.at)
        .group_by(Account.customer_id),
        {"customer_id": pl.Int64, "orders": pl.Int64, "cancelled": pl.Int64},
    )
    risk = _frame(
        conn,
        select(RiskAssessment.customer_id, RiskAssessment.level, RiskAssessment.score,
               _date_str(RiskAssessment.assessed_on), _date_str(RiskAssessment.valid_until),
               RiskAssessment.id)
        .where(RiskAssessment.customer_id.between(lo, hi)),
        {"customer_id": pl.Int64, "level": pl.String, "score": pl.Int64, "assessed_on": pl.String,
         "valid_until": pl.String, "id": pl.Int64},
    )

    b = BehaviourEvent
    login, pv, srch, read = b.kind == "login", b.kind == "page_view", b.kind == "search", b.kind == "content_read"
    viewed = b.kind.in_(("page_view", "content_read"))
    text = func.coalesce(b.query, "") + " " + func.coalesce(b.topic, "")
    interest = _frame(
        conn,
        select(b.customer_id, text, func.count())
        .where(b.customer_id.between(lo, hi), b.kind.in_(("search", "content_read")),
               b.occurred_at >= c365, b.occurred_at <= as_of.at)
        .group_by(b.customer_id, text),
        {"customer_id": pl.Int64, "text": pl.String, "n": pl.Int64},
    )
    words = compiled.config.interest_keywords
    interest = interest.group_by("customer_id").agg(**{
        f"interest_{g}": (pl.col("n").filter(pl.col("text").str.contains_any(words[g], ascii_case_insensitive=True)).sum()
                          if words.get(g) else pl.lit(0, dtype=pl.Int64))
        for g in INTEREST_GROUPS
    })
    behaviour = _frame(
        conn,
        select(
            b.customer_id,
            _sum_if(and_(login, b.occurred_at >= c30)), _sum_if(and_(login, b.occurred_at >= c90)),
            func.count(distinct(case((and_(login, b.occurred_at >= c30), func.date(b.occurred_at))))),
            func.max(case((login, b.occurred_at))),
            func.count(distinct(case((and_(login, b.occurred_at >= c90), b.device_id)))),
            func.count(distinct(case((and_(login, b.occurred_at >= c90), b.geo_city)))),
            _sum_if(and_(pv, b.occurred_at >= c30)), _sum_if(and_(pv, b.occurred_at >= c90)),
            _sum_if(and_(srch, b.occurred_at >= c90)), _sum_if(and_(read, b.occurred_at >= c90)),
            cast(_sum_if(and_(viewed, b.occurred_at >= c90, b.duration_s.is_not(None)), b.duration_s), Float),
            _sum_if(and_(viewed, b.occurred_at >= c90, b.duration_s.is_not(None))),
            _sum_if(and_(b.channel == "web", b.occurred_at >= c90)), _sum_if(b.occurred_at >= c90),
        )
        .where(b.customer_id.between(lo, hi), b.occurred_at >= c365, b.occurred_at <= as_of.at)
        .group_by(b.customer_id),
        {"customer_id": pl.Int64, "logins_30": pl.Int64, "logins_90": pl.Int64,
         "login_days_30": pl.Int64, "last_login": pl.Datetime("us", "UTC"), "devices_90": pl.Int64,
         "cities_90": pl.Int64, "pv_30": pl.Int64, "pv_90": pl.Int64, "searches_90": pl.Int64,
         "reads_90": pl.Int64, "dur_sum": pl.Float64, "dur_n": pl.Int64, "web_90": pl.Int64,
         "events_90": pl.Int64},
    ).join(interest, on="customer_id", how="left")
    label = func.coalesce(b.topic, b.page)
    topics = _frame(
        conn,
        select(b.customer_id, label, func.count())
        .where(b.customer_id.between(lo, hi), viewed, b.occurred_at >= c90, b.occurred_at <= as_of.at,
               label.is_not(None))
        .group_by(b.customer_id, label),
        {"customer_id": pl.Int64, "label": pl.String, "n": pl.Int64},
    )
    first_seen = func.min(b.occurred_at)
    login_cities = _frame(
        conn,
        select(b.customer_id, b.geo_city, case((first_seen >= c30, True), else_=False),
               _sum_if(b.occurred_at >= c30))
        .where(b.customer_id.between(lo, hi), login, b.geo_city.is_not(None), b.occurred_at <= as_of.at)
        .group_by(b.customer_id, b.geo_city),
        {"customer_id": pl.Int64, "geo_city": pl.String, "new": pl.Boolean, "n_30": pl.Int64},
    )
    login_devices = _frame(
        conn,
        select(b.customer_id, case((first_seen >= c30, True), else_=False))
        .where(b.customer_id.between(lo, hi), login, b.device_id.is_not(None), b.occurred_at <= as_of.at)
        .group_by(b.customer_id, b.device_id),
        {"customer_id": pl.Int64, "new": pl.Boolean},
    )
    return Sources(customers, family, life_events, holdings, cash, margin, movements, trades,
                   round_trips, orders, risk, behaviour, topics, login_cities, login_devices)


# --------------------------------------------------------------------------------------------
# Features: pure Polars


def _share(num: str | pl.Expr, den: str | pl.Expr) -> pl.Expr:
    num = pl.col(num) if isinstance(num, str) else num
    den = pl.col(den) if isinstance(den, str) else den
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(0.0)


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """Like :func:`_share` but null (unknown) when the denominator is zero."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


def _days_since(col: str, day: date) -> pl.Expr:
    return (pl.lit(day) - pl.col(col).str.to_date("%Y-%m-%d", strict=False)).dt.total_days()


def _days_since_ts(col: str, at: datetime) -> pl.Expr:
    return (pl.lit(at) - pl.col(col)).dt.total_days()


def compute_features(src: Sources, as_of: AsOf, compiled: Compiled) -> pl.DataFrame:
    """One row per customer: ``customer_id``, ``aum_fen`` and every registry feature."""
    day, cfg = as_of.day, compiled.config
    ref_md = day.month * 100 + day.day
    birth = pl.col("birth_date").str.to_date("%Y-%m-%d", strict=False)
    age_exact = (pl.lit(day) - birth).dt.total_days() / 365.2425
    retire_at = pl.col("gender").replace_strict(
        {k: float(v) for k, v in cfg.retirement_age.items()}, default=None, return_dtype=pl.Float64
    )
    base = src.customers.with_columns(
        age=(pl.lit(day.year) - birth.dt.year()
             - ((birth.dt.month() * 100 + birth.dt.day()) > ref_md).cast(pl.Int64)).cast(pl.Int64),
        city_tier=pl.col("city").replace_strict(city_tiers(), default=4, return_dtype=pl.Int64),
        is_married=(pl.col("marital_status") == "married").fill_null(False),
        tenure_days=_days_since("opened_on", day).cast(pl.Int64),
        is_professional=pl.col("investor_type") == "professional",
        years_to_retirement=(retire_at - age_exact).round(2),
    ).with_columns(tenure_years=(pl.col("tenure_days") / 365.2425).round(2))

    # family
    fam = src.family.with_columns(age=(pl.lit(day.year) - pl.col("birth_year")).cast(pl.Int64))
    child = pl.col("relation") == "child"
    family = fam.group_by("customer_id").agg(
        family_members_count=pl.len(),
        has_spouse=(pl.col("relation") == "spouse").any(),
        children_count=child.sum().cast(pl.Int64),
        youngest_child_age=pl.col("age").filter(child).min(),
        oldest_child_age=pl.col("age").filter(child).max(),
        preschool_children=(child & (pl.col("age") < 6)).sum().cast(pl.Int64),
        school_age_children=(child & pl.col("age").is_between(6, 22)).sum().cast(pl.Int64),
        parents_count=(pl.col("relation") == "parent").sum().cast(pl.Int64),
    )
    ev = src.life_events.with_columns(
        days=_days_since("occurred_on", day)
    ).filter(pl.col("days") >= 0)
    life = ev.sort("days").group_by("customer_id").agg(
        life_events_count=pl.len(),
        last_life_event=pl.col("kind").first(),
        days_since_last_life_event=pl.col("days").min(),
        years_since_marriage=(pl.col("days").filter(pl.col("kind") == "marriage").min() / 365.2425).round(2),
        years_since_child_birth=(pl.col("days").filter(pl.col("kind") == "child_birth").min()
                                 / 365.2425).round(2),
        house_purchase_within_2y=((pl.col("kind") == "house_purchase") & (pl.col("days") <= 730)).any(),
        career_event_within_2y=(pl.col("kind").is_in(["promotion", "job_change"])
                                & (pl.col("days") <= 730)).any(),
        relocation_within_1y=((pl.col("kind") == "relocation") & (pl.col("days") <= 365)).any(),
        retired_event=(pl.col("kind") == "retirement").any(),
    )

    # assets
    h = src.holdings
    stock = pl.col("kind") == "stock"
    fund = pl.col("kind").is_in(["fund", "etf"])
    equity = stock | (pl.col("kind") == "etf") | (
        (pl.col("kind") == "fund") & pl.col("board").is_in(["equity", "index", "mixed"]))
    fixed = pl.col("kind").is_in(["bond", "convertible"]) | (
        (pl.col("kind") == "fund") & (pl.col("board") == "bond"))
    rank = pl.col("risk_rating").str.slice(1, 1).cast(pl.Int64, strict=False)

    def mv_if(cond: pl.Expr) -> pl.Expr:
        return pl.col("mv").filter(cond).sum()

    hold = h.group_by("customer_id").agg(
        market_value_fen=pl.col("mv").sum(),
        cost_fen=pl.col("cost").sum(),
        stock_fen=mv_if(stock),
        equity_fen=mv_if(equity),
        fund_fen=mv_if(fund),
        money_fund_fen=mv_if((pl.col("kind") == "fund") & (pl.col("board") == "money")),
        bond_fen=mv_if(fixed),
        repo_fen=mv_if(pl.col("kind") == "repo"),
        usd_hold_fen=mv_if(pl.col("currency") == "USD"),
        overseas_hold_fen=mv_if((pl.col("currency") != "CNY") | (pl.col("board") == "qdii")),
        main_fen=mv_if(stock & (pl.col("board") == "main")),
        chinext_fen=mv_if(stock & (pl.col("board") == "chinext")),
        star_fen=mv_if(stock & (pl.col("board") == "star")),
        bse_fen=mv_if(stock & (pl.col("board") == "bse")),
        st_fen=mv_if(stock & pl.col("is_st")),
        r45_fen=mv_if(rank >= 4),
        margin_hold_fen=mv_if(pl.col("account_kind") == "margin"),
        positions_count=pl.col("n").sum(),
        stocks_held=pl.col("n").filter(stock).sum(),
        funds_held=pl.col("n").filter(fund).sum(),
        max_mv=pl.col("max_mv").max(),
        mv2=pl.col("mv2").sum(),
        losing_positions=pl.col("losing").sum(),
        first_opened=pl.col("first_opened").min(),
    )
    cash = src.cash.group_by("customer_id").agg(
        cash_fen=pl.col("cash").sum(),
        frozen_fen=pl.col("frozen").sum(),
        usd_cash_fen=pl.col("cash").filter(pl.col("currency") == "USD").sum(),
        foreign_cash_fen=pl.col("cash").filter(pl.col("currency") != "CNY").sum(),
        margin_cash_fen=pl.col("cash").filter(pl.col("account_kind") == "margin").sum(),
        accounts_count=pl.col("n").sum(),
        has_margin_account=(pl.col("account_kind") == "margin").any(),
    )
    words = cfg.page_topics
    topics = src.topics.group_by("customer_id").agg(**{
        f"page_views_{t}_90d": pl.col("n").filter(
            pl.any_horizontal([pl.col("label").str.starts_with(w) for w in words[t]])
        ).sum() if words.get(t) else pl.lit(0, dtype=pl.Int64)
        for t in PAGE_TOPICS
    })
    rt = src.round_trips.with_columns(
        buy_avg=_ratio(pl.col("buy_amt"), pl.col("buy_qty")),
        sell_avg=_ratio(pl.col("sell_amt"), pl.col("sell_qty")),
    ).with_columns(ref=pl.coalesce("buy_avg", "cost_price"))
    sold = rt.filter(pl.col("sell_qty") > 0, pl.col("ref").is_not_null())
    wins = sold.group_by("customer_id").agg(
        win_rate_365d=(pl.col("sell_avg") > pl.col("ref")).mean().round(4))
    held = rt.filter(pl.col("first_buy").is_not_null(), pl.col("first_sell") > pl.col("first_buy"))
    holding = held.group_by("customer_id").agg(
        avg_holding_period_days=((pl.col("first_sell") - pl.col("first_buy")).dt.total_seconds()
                                 / 86400).mean().round(1))
    latest_risk = src.risk.sort("assessed_on", "id").group_by("customer_id").agg(
        risk_level=pl.col("level").last(),
        risk_score=pl.col("score").last(),
        assessed_on=pl.col("assessed_on").last(),
        valid_until=pl.col("valid_until").last(),
        risk_assessment_count=pl.len(),
    )
    new_city = src.login_cities.join(
        src.customers.select("customer_id", "city"), on="customer_id", how="left"
    ).group_by("customer_id").agg(
        new_city_logins_30d=pl.col("n_30").filter(pl.col("new") & (pl.col("geo_city") != pl.col("city"))
                                                  .fill_null(True)).sum()
    )
    new_device = src.login_devices.group_by("customer_id").agg(
        had_before=(~pl.col("new")).any(), fresh=pl.col("new").sum()
    ).select("customer_id", new_device_logins_30d=pl.when("had_before").then("fresh").otherwise(0))

    df = base
    for part in (family, life, hold, cash, src.margin, src.movements, src.trades, wins, holding,
                 src.orders, latest_risk, src.behaviour, topics, new_city, new_device):
        df = df.join(part, on="customer_id", how="left")

    zero_fill = [c for c, dt in df.schema.items() if c.endswith("_fen") or c in {
        "n_30", "n_90", "n_365", "buys", "sells", "symbols", "days_30", "days_90", "fees",
        "growth_amt", "amt_30", "amt_90", "amt_365", "net_30", "net_90", "net_365", "in_90",
        "out_90", "min_out_90", "dividend_365", "margin_interest_365", "orders", "cancelled",
        "logins_30", "logins_90", "login_days_30", "devices_90", "cities_90", "pv_30", "pv_90",
        "searches_90", "reads_90", "dur_n", "web_90", "events_90", "financing", "lending",
        "interest", "credit_limit", "positions_count", "stocks_held", "funds_held", "max_mv",
        "losing_positions", "accounts_count", "family_members_count", "children_count",
        "preschool_children", "school_age_children", "parents_count", "life_events_count",
        "new_city_logins_30d", "new_device_logins_30d", "risk_assessment_count",
    } or c.startswith(("interest_", "page_views_"))]
    df = df.with_columns([pl.col(c).fill_null(0) for c in zero_fill]).with_columns(
        pl.col("mv2").fill_null(0.0), pl.col("dur_sum").fill_null(0.0),
        *[pl.col(c).fill_null(False) for c in ("has_spouse", "house_purchase_within_2y",
                                               "career_event_within_2y", "relocation_within_1y",
                                               "retired_event", "has_margin_account")],
    )

    liabilities = pl.col("financing") + pl.col("lending") + pl.col("interest")
    total = pl.col("cash_fen") + pl.col("market_value_fen")
    margin_assets = pl.col("margin_cash_fen") + pl.col("margin_hold_fen")
    risk_num = pl.col("risk_level").str.slice(1, 1).cast(pl.Int64, strict=False)
    df = df.with_columns(
        aum_fen=total - liabilities,
        total_fen=total,
        liab_fen=liabilities,
        margin_assets_fen=margin_assets,
        risk_level_num=risk_num,
    )
    above = (
        h.join(df.select("customer_id", "risk_level_num"), on="customer_id", how="left")
        .with_columns(rank=rank)
        .group_by("customer_id")
        .agg(above_fen=pl.col("mv").filter(pl.col("rank") > pl.col("risk_level_num").fill_null(0)).sum())
    )
    df = df.join(above, on="customer_id", how="left").with_columns(pl.col("above_fen").fill_null(0))

    yuan = 100.0
    mv_col = pl.col("market_value_fen")
    ratio = _ratio(margin_assets.cast(pl.Float64), liabilities)
    out = df.with_columns(
        aum=pl.col("aum_fen") / yuan,
        total_assets=pl.col("total_fen") / yuan,
        cash_balance=pl.col("cash_fen") / yuan,
        frozen_cash=pl.col("frozen_fen") / yuan,
        market_value=mv_col / yuan,
        stock_value=pl.col("stock_fen") / yuan,
        cash_share=_share("cash_fen", "total_fen"),
        stock_share=_share("stock_fen", "total_fen"),
        equity_share=_share("equity_fen", "total_fen"),
        fund_share=_share("fund_fen", "total_fen"),
        money_fund_share=_share("money_fund_fen", "total_fen"),
        bond_share=_share("bond_fen", "total_fen"),
        repo_share=_share("repo_fen", "total_fen"),
        usd_asset_share=_share(pl.col("usd_cash_fen") + pl.col("usd_hold_fen"), pl.col("total_fen")),
        overseas_share=_share(pl.col("foreign_cash_fen") + pl.col("overseas_hold_fen"), pl.col("total_fen")),
        main_board_share=_share("main_fen", "stock_fen"),
        chinext_share=_share("chinext_fen", "stock_fen"),
        star_share=_share("star_fen", "stock_fen"),
        bse_share=_share("bse_fen", "stock_fen"),
        st_share=_share("st_fen", "stock_fen"),
        top1_weight=_ratio(pl.col("max_mv"), mv_col),
        hhi=_ratio(pl.col("mv2") * 10000.0, mv_col.cast(pl.Float64) ** 2),
        unrealised_pnl=(mv_col - pl.col("cost_fen")) / yuan,
        unrealised_pnl_pct=_ratio(mv_col - pl.col("cost_fen"), pl.col("cost_fen")),
        holdings_above_risk_level_share=_share("above_fen", "market_value_fen"),
        high_risk_product_share=_share("r45_fen", "market_value_fen"),
        oldest_position_days=_days_since("first_opened", day).fill_null(0),
        net_inflow_30d=pl.col("net_30") / yuan,
        net_inflow_90d=pl.col("net_90") / yuan,
        net_inflow_365d=pl.col("net_365") / yuan,
        bank_in_count_90d=pl.col("in_90"),
        bank_out_count_90d=pl.col("out_90"),
        largest_withdrawal_90d=-pl.col("min_out_90") / yuan,
        dividend_income_365d=pl.col("dividend_365") / yuan,
        days_since_last_transfer=_days_since_ts("last_transfer", as_of.at),
        trade_count_30d=pl.col("n_30"),
        trade_count_90d=pl.col("n_90"),
        trade_count_365d=pl.col("n_365"),
        buy_count_365d=pl.col("buys"),
        sell_count_365d=pl.col("sells"),
        turnover_30d=pl.col("amt_30") / yuan,
        turnover_90d=pl.col("amt_90") / yuan,
        turnover_365d=pl.col("amt_365") / yuan,
        turnover_rate_365d=_share("amt_365", "aum_fen"),
        avg_trade_amount_365d=_share("amt_365", "n_365") / yuan,
        symbols_traded_365d=pl.col("symbols"),
        active_trading_days_30d=pl.col("days_30"),
        active_trading_days_90d=pl.col("days_90"),
        trades_per_week_90d=pl.col("n_90") / (90 / 7),
        days_since_last_trade=_days_since_ts("last_trade", as_of.at),
        fees_paid_365d=pl.col("fees") / yuan,
        growth_board_trade_share_365d=_share("growth_amt", "amt_365"),
        order_count_90d=pl.col("orders"),
        cancel_rate_90d=_ratio(pl.col("cancelled"), pl.col("orders")),
        margin_total_assets=margin_assets / yuan,
        margin_liabilities=liabilities / yuan,
        financing_debt=pl.col("financing") / yuan,
        lending_debt=pl.col("lending") / yuan,
        maintenance_ratio=ratio,
        credit_limit=pl.col("credit_limit") / yuan,
        credit_utilisation=_ratio(pl.col("financing") + pl.col("lending"), pl.col("credit_limit")),
        margin_warning_distance=ratio - pl.col("warning_line"),
        margin_liquidation_distance=ratio - pl.col("liquidation_line"),
        margin_below_warning=(ratio < pl.col("warning_line")).fill_null(False),
        margin_interest_365d=-pl.col("margin_interest_365") / yuan,
        margin_contract_days_left=_days_since("contract_end", day).neg(),
        risk_assessed_days_ago=_days_since("assessed_on", day),
        risk_days_to_expiry=_days_since("valid_until", day).neg(),
        risk_assessment_expired=(_days_since("valid_until", day) > 0).fill_null(True),
        login_count_30d=pl.col("logins_30"),
        login_count_90d=pl.col("logins_90"),
        login_days_30d=pl.col("login_days_30"),
        days_since_last_login=_days_since_ts("last_login", as_of.at),
        devices_90d=pl.col("devices_90"),
        login_cities_90d=pl.col("cities_90"),
        page_views_30d=pl.col("pv_30"),
        page_views_90d=pl.col("pv_90"),
        searches_90d=pl.col("searches_90"),
        content_reads_90d=pl.col("reads_90"),
        avg_session_seconds_90d=_ratio(pl.col("dur_sum"), pl.col("dur_n")),
        web_share_90d=_share("web_90", "events_90"),
        **{f"search_{g}_365d": pl.col(f"interest_{g}") for g in INTEREST_GROUPS},
    )
    cols = [pl.col(f.name).cast(_POLARS[f.type]) for f in FEATURES]
    return out.select(pl.col("customer_id"), pl.col("aum_fen").cast(pl.Int64), *cols)


# --------------------------------------------------------------------------------------------
# Tier, high-net-worth flag, life stage, tags


def classify(features: pl.DataFrame, compiled: Compiled) -> pl.DataFrame:
    """Add ``tier``, ``high_net_worth``, ``life_stage`` and ``tags`` (list of tag keys)."""
    cfg = compiled.config
    aum = pl.col("aum_fen")
    tier = pl.lit(cfg.tiers[-1].key)
    for t in reversed(cfg.tiers[:-1]):
        tier = pl.when(aum >= int(t.min_aum * 100)).then(pl.lit(t.key)).otherwise(tier)
    stage = pl.coalesce(
        [pl.when(expr.fill_null(False)).then(pl.lit(rule.stage)) for rule, expr in compiled.stages]
        + [pl.lit(cfg.default_life_stage, dtype=pl.String)]
    ) if compiled.stages else pl.lit(cfg.default_life_stage, dtype=pl.String)
    tag_exprs = [pl.when(expr.fill_null(False)).then(pl.lit(rule.key)) for rule, expr in compiled.tags]
    tags = (pl.concat_list(tag_exprs).list.drop_nulls() if tag_exprs
            else pl.lit([], dtype=pl.List(pl.String)))
    return features.with_columns(
        tier=tier,
        high_net_worth=aum >= int(cfg.high_net_worth_min_aum * 100),
        life_stage=stage,
        tags=tags,
    )


# --------------------------------------------------------------------------------------------
# Encoding for storage


def _json_value(f) -> pl.Expr:  # noqa: ANN001
    col = pl.col(f.name)
    if f.type == "bool":
        return col.cast(pl.String)
    if f.type == "int":
        return col.cast(pl.String)
    if f.type == "float":
        digits = 2 if f.group in {"assets", "cashflow", "trading", "margin"} and not f.name.endswith(
            ("_share", "_pct", "_rate_365d", "ratio", "_distance", "utilisation", "weight", "hhi")
        ) else 4
        return col.fill_nan(None).round(digits).cast(pl.String)
    return pl.lit('"') + col.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
        '"', '\\"', literal=True) + pl.lit('"')


def _omitted(f) -> pl.Expr:  # noqa: ANN001
    """Sparse encoding: nulls always, and 0 / false for features whose default is 0 / false."""
    col = pl.col(f.name)
    if f.name in NULLABLE or f.type == "str":
        return col.is_null()
    if f.type == "bool":
        return col.is_null() | ~col
    return col.is_null() | (col == 0)


def encode(classified: pl.DataFrame) -> pl.DataFrame:
    """Rows ready for ``customer_profiles``: JSON text built column-wise, money as exact text."""
    parts = [
        pl.when(_omitted(f)).then(None).otherwise(pl.lit(f'"{f.name}":') + _json_value(f))
        for f in FEATURES
    ]
    features_json = pl.lit("{") + pl.concat_str(parts, separator=",", ignore_nulls=True) + pl.lit("}")
    tags_json = pl.lit("[") + pl.col("tags").list.eval(
        pl.lit('"') + pl.element() + pl.lit('"')).list.join(",") + pl.lit("]")
    fen = pl.col("aum_fen")
    sign = pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    aum_text = sign + (fen.abs() // 100).cast(pl.String) + pl.lit(".") + (fen.abs() % 100).cast(
        pl.String).str.zfill(2)
    return classified.select(
        "customer_id",
        aum=aum_text,
        tier="tier",
        high_net_worth="high_net_worth",
        life_stage="life_stage",
        tags=tags_json,
        features=features_json,
    )


def decode_features(stored: dict) -> dict:
    """The full feature dict (registry order) from a stored, sparse one."""
    out = {}
    for f in FEATURES:
        if f.name in stored:
            out[f.name] = stored[f.name]
        elif f.name in NULLABLE or f.type == "str":
            out[f.name] = None
        else:
            out[f.name] = {"int": 0, "float": 0.0, "bool": False}[f.type]
    return out


def compute_partition(conn: Connection, lo: int, hi: int, as_of: AsOf, compiled: Compiled) -> pl.DataFrame:
    """Load, compute, classify: the classified frame for customers ``lo..hi``."""
    src = load_sources(conn, lo, hi, as_of, compiled)
    return classify(compute_features(src, as_of, compiled), compiled)


__all__ = [
    "AsOf", "Sources", "load_sources", "compute_features", "classify", "encode", "decode_features",
    "compute_partition",
]
