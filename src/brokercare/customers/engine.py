"""Profile features: pure Polars over a partition's sources, one function per feature group.

:func:`brokercare.customers.sources.load_sources` reads a partition (a range of customer ids) with
one grouped query per source; :func:`compute_features` turns those frames into one row of registry
features per customer, group by group (identity, family, assets, cash flow, trading, margin, risk,
behaviour), and :func:`classify` adds tier, high-net-worth flag, life stage and tags from the
configuration. The last two are pure functions of their inputs, so the nightly batch (loop, process
pool or Dask) and the incremental update of one customer after an event run the very same code.

Money is carried as integer fen until the end so tier boundaries compare exactly (a customer with
exactly 500,000.00 元 is 大众, one with 499,999.99 元 is 长尾).
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from sqlalchemy import Connection

from brokercare.customers.config import CdpConfig, Compiled, city_tiers
from brokercare.customers.features import FEATURES, INTEREST_GROUPS, NULLABLE, PAGE_TOPICS, Feature
from brokercare.customers.sources import AsOf, Sources, load_sources

_POLARS = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.String}
YUAN = 100.0  # fen per 元

#: Aggregates a customer without rows in a source has zero of (``*_fen`` columns too).
ZERO_FILLED = frozenset({
    "n_30", "n_90", "n_365", "buys", "sells", "symbols", "days_30", "days_90", "fees",
    "growth_amt", "amt_30", "amt_90", "amt_365", "net_30", "net_90", "net_365", "in_90",
    "out_90", "min_out_90", "dividend_365", "margin_interest_365", "orders", "cancelled",
    "logins_30", "logins_90", "login_days_30", "devices_90", "cities_90", "pv_30", "pv_90",
    "searches_90", "reads_90", "dur_n", "web_90", "events_90", "financing", "lending",
    "interest", "credit_limit", "positions_count", "stocks_held", "funds_held", "max_mv",
    "losing_positions", "accounts_count", "family_members_count", "children_count",
    "preschool_children", "school_age_children", "parents_count", "life_events_count",
    "new_city_logins_30d", "new_device_logins_30d", "risk_assessment_count",
})
FALSE_FILLED = ("has_spouse", "house_purchase_within_2y", "career_event_within_2y", "relocation_within_1y",
                "retired_event", "has_margin_account")


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


def _risk_rank(col: str) -> pl.Expr:
    """``R4`` → 4, ``C3`` → 3 (null when unrated)."""
    return pl.col(col).str.slice(1, 1).cast(pl.Int64, strict=False)


def compute_features(src: Sources, as_of: AsOf, compiled: Compiled) -> pl.DataFrame:
    """One row per customer: ``customer_id``, ``aum_fen`` and every registry feature."""
    cfg = compiled.config
    df = identity_features(src.customers, as_of.day, cfg)
    family, life = family_aggregates(src.family, src.life_events, as_of.day)
    hold, cash = asset_aggregates(src.holdings, src.cash)
    wins, holding = trade_outcomes(src.round_trips)
    topics, new_city, new_device = behaviour_aggregates(src, cfg)
    for part in (family, life, hold, cash, src.margin, src.movements, src.trades, wins, holding,
                 src.orders, src.risk, src.behaviour, topics, new_city, new_device):
        df = df.join(part, on="customer_id", how="left")
    df = _with_totals(_filled(df), src.holdings)
    out = df.with_columns(
        **asset_features(as_of.day), **cashflow_features(as_of.at), **trading_features(as_of.at),
        **margin_features(as_of.day), **risk_features(as_of.day), **behaviour_features(as_of.at),
    )
    cols = [pl.col(f.name).cast(_POLARS[f.type]) for f in FEATURES]
    return out.select(pl.col("customer_id"), pl.col("aum_fen").cast(pl.Int64), *cols)


def _filled(df: pl.DataFrame) -> pl.DataFrame:
    """Zero counts and amounts, false flags, for customers without rows in a source."""
    zero_fill = [c for c in df.columns if c.endswith("_fen") or c in ZERO_FILLED
                 or c.startswith(("interest_", "page_views_"))]
    return df.with_columns([pl.col(c).fill_null(0) for c in zero_fill]).with_columns(
        pl.col("mv2").fill_null(0.0), pl.col("dur_sum").fill_null(0.0),
        *[pl.col(c).fill_null(False) for c in FALSE_FILLED],
    )


def _with_totals(df: pl.DataFrame, holdings: pl.DataFrame) -> pl.DataFrame:
    """Net assets (AUM), gross assets, liabilities, margin-account assets in fen, the numeric risk
    level, and the market value held above that level."""
    liabilities = pl.col("financing") + pl.col("lending") + pl.col("interest")
    total = pl.col("cash_fen") + pl.col("in_transit_fen") + pl.col("market_value_fen")
    df = df.with_columns(
        aum_fen=total - liabilities,
        total_fen=total,
        liab_fen=liabilities,
        margin_assets_fen=pl.col("margin_cash_fen") + pl.col("margin_hold_fen"),
        risk_level_num=_risk_rank("risk_level"),
    )
    above = (
        holdings.join(df.select("customer_id", "risk_level_num"), on="customer_id", how="left")
        .with_columns(rank=_risk_rank("risk_rating"))
        .group_by("customer_id")
        .agg(above_fen=pl.col("mv").filter(pl.col("rank") > pl.col("risk_level_num").fill_null(0)).sum())
    )
    return df.join(above, on="customer_id", how="left").with_columns(pl.col("above_fen").fill_null(0))


# -- identity and family ------------------------------------------------------------------------


def identity_features(customers: pl.DataFrame, day: date, cfg: CdpConfig) -> pl.DataFrame:
    """Age, city tier, marriage, tenure, professional status, years to statutory retirement."""
    ref_md = day.month * 100 + day.day
    birth = pl.col("birth_date").str.to_date("%Y-%m-%d", strict=False)
    age_exact = (pl.lit(day) - birth).dt.total_days() / 365.2425
    retire_at = pl.col("gender").replace_strict(
        {k: float(v) for k, v in cfg.retirement_age.items()}, default=None, return_dtype=pl.Float64
    )
    return customers.with_columns(
        age=(pl.lit(day.year) - birth.dt.year()
             - ((birth.dt.month() * 100 + birth.dt.day()) > ref_md).cast(pl.Int64)).cast(pl.Int64),
        city_tier=pl.col("city").replace_strict(city_tiers(), default=4, return_dtype=pl.Int64),
        is_married=(pl.col("marital_status") == "married").fill_null(False),
        tenure_days=_days_since("opened_on", day).cast(pl.Int64),
        is_professional=pl.col("investor_type") == "professional",
        years_to_retirement=(retire_at - age_exact).round(2),
    ).with_columns(tenure_years=(pl.col("tenure_days") / 365.2425).round(2))


def family_aggregates(family: pl.DataFrame, life_events: pl.DataFrame, day: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Household (spouse, children by age, parents) and life events (the latest, years since
    marriage and a child's birth, recent house purchase, career move, relocation, retirement)."""
    fam = family.with_columns(age=(pl.lit(day.year) - pl.col("birth_year")).cast(pl.Int64))
    child = pl.col("relation") == "child"
    household = fam.group_by("customer_id").agg(
        family_members_count=pl.len(),
        has_spouse=(pl.col("relation") == "spouse").any(),
        children_count=child.sum().cast(pl.Int64),
        youngest_child_age=pl.col("age").filter(child).min(),
        oldest_child_age=pl.col("age").filter(child).max(),
        preschool_children=(child & (pl.col("age") < 6)).sum().cast(pl.Int64),
        school_age_children=(child & pl.col("age").is_between(6, 22)).sum().cast(pl.Int64),
        parents_count=(pl.col("relation") == "parent").sum().cast(pl.Int64),
    )
    ev = life_events.with_columns(days=_days_since("occurred_on", day)).filter(pl.col("days") >= 0)
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
    return household, life


# -- assets -------------------------------------------------------------------------------------


def asset_aggregates(holdings: pl.DataFrame, cash: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Market value by asset class, board, currency and risk; cash by account kind and currency."""
    stock = pl.col("kind") == "stock"
    fund = pl.col("kind").is_in(["fund", "etf"])
    equity = stock | (pl.col("kind") == "etf") | (
        (pl.col("kind") == "fund") & pl.col("board").is_in(["equity", "index", "mixed"]))
    fixed = pl.col("kind").is_in(["bond", "convertible"]) | (
        (pl.col("kind") == "fund") & (pl.col("board") == "bond"))

    def mv_if(cond: pl.Expr) -> pl.Expr:
        return pl.col("mv").filter(cond).sum()

    hold = holdings.group_by("customer_id").agg(
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
        r45_fen=mv_if(_risk_rank("risk_rating") >= 4),
        margin_hold_fen=mv_if(pl.col("account_kind") == "margin"),
        positions_count=pl.col("n").sum(),
        stocks_held=pl.col("n").filter(stock).sum(),
        funds_held=pl.col("n").filter(fund).sum(),
        max_mv=pl.col("max_mv").max(),
        mv2=pl.col("mv2").sum(),
        losing_positions=pl.col("losing").sum(),
        first_opened=pl.col("first_opened").min(),
    )
    by_customer = cash.group_by("customer_id").agg(
        cash_fen=pl.col("cash").sum(),
        frozen_fen=pl.col("frozen").sum(),
        in_transit_fen=pl.col("in_transit").sum(),
        usd_cash_fen=pl.col("cash").filter(pl.col("currency") == "USD").sum(),
        foreign_cash_fen=pl.col("cash").filter(pl.col("currency") != "CNY").sum(),
        margin_cash_fen=pl.col("cash").filter(pl.col("account_kind") == "margin").sum(),
        accounts_count=pl.col("n").sum(),
        has_margin_account=(pl.col("account_kind") == "margin").any(),
    )
    return hold, by_customer


def asset_features(day: date) -> dict[str, pl.Expr]:
    mv = pl.col("market_value_fen")
    return dict(
        aum=pl.col("aum_fen") / YUAN,
        total_assets=pl.col("total_fen") / YUAN,
        cash_balance=pl.col("cash_fen") / YUAN,
        frozen_cash=pl.col("frozen_fen") / YUAN,
        market_value=mv / YUAN,
        stock_value=pl.col("stock_fen") / YUAN,
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
        top1_weight=_ratio(pl.col("max_mv"), mv),
        hhi=_ratio(pl.col("mv2") * 10000.0, mv.cast(pl.Float64) ** 2),
        unrealised_pnl=(mv - pl.col("cost_fen")) / YUAN,
        unrealised_pnl_pct=_ratio(mv - pl.col("cost_fen"), pl.col("cost_fen")),
        holdings_above_risk_level_share=_share("above_fen", "market_value_fen"),
        high_risk_product_share=_share("r45_fen", "market_value_fen"),
        oldest_position_days=_days_since("first_opened", day).fill_null(0),
    )


# -- cash flow and trading ----------------------------------------------------------------------


def cashflow_features(at: datetime) -> dict[str, pl.Expr]:
    return dict(
        net_inflow_30d=pl.col("net_30") / YUAN,
        net_inflow_90d=pl.col("net_90") / YUAN,
        net_inflow_365d=pl.col("net_365") / YUAN,
        bank_in_count_90d=pl.col("in_90"),
        bank_out_count_90d=pl.col("out_90"),
        largest_withdrawal_90d=-pl.col("min_out_90") / YUAN,
        dividend_income_365d=pl.col("dividend_365") / YUAN,
        days_since_last_transfer=_days_since_ts("last_transfer", at),
    )


def trade_outcomes(round_trips: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Win rate (sold above the buying price, or the cost price without a buy in the window) and
    the average days from first buy to first sell, per customer."""
    rt = round_trips.with_columns(
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
    return wins, holding


def trading_features(at: datetime) -> dict[str, pl.Expr]:
    return dict(
        trade_count_30d=pl.col("n_30"),
        trade_count_90d=pl.col("n_90"),
        trade_count_365d=pl.col("n_365"),
        buy_count_365d=pl.col("buys"),
        sell_count_365d=pl.col("sells"),
        turnover_30d=pl.col("amt_30") / YUAN,
        turnover_90d=pl.col("amt_90") / YUAN,
        turnover_365d=pl.col("amt_365") / YUAN,
        turnover_rate_365d=_share("amt_365", "aum_fen"),
        avg_trade_amount_365d=_share("amt_365", "n_365") / YUAN,
        symbols_traded_365d=pl.col("symbols"),
        active_trading_days_30d=pl.col("days_30"),
        active_trading_days_90d=pl.col("days_90"),
        trades_per_week_90d=pl.col("n_90") / (90 / 7),
        days_since_last_trade=_days_since_ts("last_trade", at),
        fees_paid_365d=pl.col("fees") / YUAN,
        growth_board_trade_share_365d=_share("growth_amt", "amt_365"),
        order_count_90d=pl.col("orders"),
        cancel_rate_90d=_ratio(pl.col("cancelled"), pl.col("orders")),
    )


# -- margin and risk ----------------------------------------------------------------------------


def margin_features(day: date) -> dict[str, pl.Expr]:
    """Margin-account assets against liabilities (the maintenance ratio, 维持担保比例) and the
    distance to the contract's warning and liquidation lines."""
    margin_assets = pl.col("margin_assets_fen")
    liabilities = pl.col("liab_fen")
    ratio = _ratio(margin_assets.cast(pl.Float64), liabilities)
    return dict(
        margin_total_assets=margin_assets / YUAN,
        margin_liabilities=liabilities / YUAN,
        financing_debt=pl.col("financing") / YUAN,
        lending_debt=pl.col("lending") / YUAN,
        maintenance_ratio=ratio,
        credit_limit=pl.col("credit_limit") / YUAN,
        credit_utilisation=_ratio(pl.col("financing") + pl.col("lending"), pl.col("credit_limit")),
        margin_warning_distance=ratio - pl.col("warning_line"),
        margin_liquidation_distance=ratio - pl.col("liquidation_line"),
        margin_below_warning=(ratio < pl.col("warning_line")).fill_null(False),
        margin_interest_365d=-pl.col("margin_interest_365") / YUAN,
        margin_contract_days_left=_days_since("contract_end", day).neg(),
    )


def risk_features(day: date) -> dict[str, pl.Expr]:
    return dict(
        risk_assessed_days_ago=_days_since("assessed_on", day),
        risk_days_to_expiry=_days_since("valid_until", day).neg(),
        risk_assessment_expired=(_days_since("valid_until", day) > 0).fill_null(True),
    )


# -- behaviour ----------------------------------------------------------------------------------


def behaviour_aggregates(src: Sources, cfg: CdpConfig) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Page views by configured topic over 90 days, and logins from a city or a device first seen
    in the last 30 days (a new device counts only for a customer who had logged in before)."""
    words = cfg.page_topics
    topics = src.topics.group_by("customer_id").agg(**{
        f"page_views_{t}_90d": pl.col("n").filter(
            pl.any_horizontal([pl.col("label").str.starts_with(w) for w in words[t]])
        ).sum() if words.get(t) else pl.lit(0, dtype=pl.Int64)
        for t in PAGE_TOPICS
    })
    new_city = src.login_cities.join(
        src.customers.select("customer_id", "city"), on="customer_id", how="left"
    ).group_by("customer_id").agg(
        new_city_logins_30d=pl.col("n_30").filter(pl.col("new") & (pl.col("geo_city") != pl.col("city"))
                                                  .fill_null(True)).sum()
    )
    new_device = src.login_devices.group_by("customer_id").agg(
        had_before=(~pl.col("new")).any(), fresh=pl.col("new").sum()
    ).select("customer_id", new_device_logins_30d=pl.when("had_before").then("fresh").otherwise(0))
    return topics, new_city, new_device


def behaviour_features(at: datetime) -> dict[str, pl.Expr]:
    return dict(
        login_count_30d=pl.col("logins_30"),
        login_count_90d=pl.col("logins_90"),
        login_days_30d=pl.col("login_days_30"),
        days_since_last_login=_days_since_ts("last_login", at),
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


def _json_value(f: Feature) -> pl.Expr:
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


def _omitted(f: Feature) -> pl.Expr:
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
