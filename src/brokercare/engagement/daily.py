"""The daily post-close report's numbers for a partition of customers, as Polars frames.

A pure function of the partition's columns (:class:`DailyInputs`): the same code runs over one
customer for the web page, over a range of ids in the nightly job, or in a process pool. No
Python loop per customer or holding.

The day's P&L of a holding is the change in its value adjusted for the day's cash flows:
``quantity_end × close − quantity_start × previous close − bought + sold − fees``, where
``quantity_start = quantity_end − shares bought + shares sold``. A holding whose previous close
is not recorded is measured from its close (no change) and marked ``no_prev_close``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from brokercare.accounts.service import maintenance_ratio

#: Health thresholds, as a broker's wealth team words them.
CONCENTRATION_HIGH = 0.30  # one holding over 30 % of the stock portfolio
DRAWDOWN_DEEP = -0.20  # 20 % below cost
DRAWDOWN_WATCH = -0.10
LIMIT_DOWN_STREAK = 2  # consecutive limit-down closes
TOP_CONTRIBUTORS = 3


@dataclass(frozen=True)
class DailyInputs:
    """The columns one partition's reports are computed from (see the services' docstrings)."""

    recipients: pl.DataFrame  # customers.report_recipients
    holdings: pl.DataFrame  # accounts.holdings_frame
    trades: pl.DataFrame  # accounts.trades_frame (the day's)
    facts: pl.DataFrame  # market.day_facts
    cash: pl.DataFrame  # accounts.cash_by_customer (fen)
    margin: pl.DataFrame  # accounts.margin_by_customer (fen)
    notes: pl.DataFrame  # monitoring.next_day_notes


@dataclass(frozen=True)
class DailyFrames:
    summary: pl.DataFrame  # one row per customer
    lines: pl.DataFrame  # one row per customer and instrument held or traded today
    notes: pl.DataFrame  # tomorrow's notes


def _level(col: str) -> pl.Expr:
    """C3 / R4 → 3 / 4 (null when absent)."""
    return pl.col(col).str.slice(1, 1).cast(pl.Int8, strict=False)


def _positions(inp: DailyInputs) -> pl.LazyFrame:
    """Holdings and the day's trades per customer, account kind and symbol, with the day's P&L."""
    keys = ["customer_id", "account_kind", "symbol"]
    moved = inp.holdings.lazy().join(inp.trades.lazy(), on=keys, how="full", coalesce=True)
    zero = [pl.col(c).fill_null(0.0) for c in ("quantity", "bought", "bought_amount", "sold",
                                                 "sold_amount", "fees")]
    facts = inp.facts.lazy().select("symbol", "prev_close", "close")
    return (
        moved.with_columns(zero)
        .join(facts, on="symbol", how="left")
        .with_columns(
            close=pl.coalesce("close", "cost_price", "prev_close"),
            no_prev_close=pl.col("prev_close").is_null(),
            start_quantity=pl.col("quantity") - pl.col("bought") + pl.col("sold"),
        )
        .with_columns(prev_close=pl.coalesce("prev_close", "close"))
        .with_columns(
            market_value=pl.col("quantity") * pl.col("close"),
            start_value=pl.col("start_quantity") * pl.col("prev_close"),
            cost_value=pl.col("quantity") * pl.col("cost_price").fill_null(0.0),
        )
        .with_columns(day_pnl=pl.col("market_value") - pl.col("start_value") - pl.col("bought_amount")
                      + pl.col("sold_amount") - pl.col("fees"))
    )


_SUMMED = ("quantity", "market_value", "start_value", "cost_value", "day_pnl", "bought", "sold", "bought_amount")


def _per_instrument(positions: pl.DataFrame) -> pl.DataFrame:
    """Positions per customer and instrument: a customer holding one share in both a cash and a
    margin account gets one line. Only customers with a second account kind are grouped (a few
    per cent): grouping every row costs more than the rest of the report."""
    cols = ["customer_id", "symbol", *_SUMMED, "close", "prev_close", "no_prev_close"]
    several = positions.filter(pl.col("account_kind") != "cash")["customer_id"].unique()
    mixed = pl.col("customer_id").is_in(several.implode())
    grouped = positions.filter(mixed).group_by("customer_id", "symbol").agg(
        pl.col(*_SUMMED).sum(), pl.col("close", "prev_close").first(), pl.col("no_prev_close").any())
    return pl.concat([positions.filter(~mixed).select(cols), grouped.select(cols)])


def _lines(positions: pl.DataFrame, inp: DailyInputs) -> pl.DataFrame:
    """One line per customer and instrument, with its health (in no particular order)."""
    facts = inp.facts.drop("prev_close", "close")
    risk = inp.recipients.select("customer_id", "risk_level")
    return (
        _per_instrument(positions).join(facts, on="symbol", how="left").join(risk, on="customer_id", how="left")
        .with_columns(
            weight=pl.col("market_value") / pl.col("market_value").sum().over("customer_id"),
            drawdown=pl.when(pl.col("cost_value") > 0)
            .then(pl.col("market_value") / pl.col("cost_value") - 1.0),
            day_change=pl.when(pl.col("prev_close") > 0)
            .then(pl.col("close") / pl.col("prev_close") - 1.0),
            above_risk=_level("risk_rating") > _level("risk_level"),
        )
        .with_columns(
            concentrated=(pl.col("weight") > CONCENTRATION_HIGH) & (pl.col("quantity") > 0),
            limit_down_streak=pl.col("limit_down_days").fill_null(0) >= LIMIT_DOWN_STREAK,
        )
        .with_columns(
            high_risk=(pl.col("quantity") > 0) & (pl.col("is_st").fill_null(False)
                                                  | pl.col("near_delisting").fill_null(False)
                                                  | pl.col("limit_down_streak")),
        )
    )


def _cash(inp: DailyInputs) -> pl.LazyFrame:
    return inp.cash.lazy().filter(pl.col("currency") == "CNY").group_by("customer_id").agg(
        cash=(pl.col("cash").sum() / 100.0),
        in_transit=(pl.col("in_transit").sum() / 100.0),
        margin_cash=pl.col("cash").filter(pl.col("account_kind") == "margin").sum() / 100.0,
    )


def _margin(positions: pl.DataFrame, inp: DailyInputs) -> pl.LazyFrame:
    """维持担保比例 at the close: the margin account's cash and holdings ÷ its liabilities."""
    margin_mv = positions.lazy().filter(pl.col("account_kind") == "margin").group_by("customer_id").agg(
        margin_market_value=pl.col("market_value").sum())
    debt = inp.margin.lazy().select(
        "customer_id", "warning_line", "liquidation_line",
        liabilities=(pl.col("financing") + pl.col("lending") + pl.col("interest")) / 100.0)
    return debt.join(margin_mv, on="customer_id", how="left").join(_cash(inp), on="customer_id", how="left")\
        .select("customer_id", "warning_line", "liquidation_line", "liabilities",
                margin_assets=pl.col("margin_market_value").fill_null(0.0) + pl.col("margin_cash").fill_null(0.0))\
        .with_columns(maintenance_ratio=maintenance_ratio(pl.col("margin_assets"), pl.col("liabilities")))\
        .with_columns(margin_state=pl.when(pl.col("maintenance_ratio").is_null()).then(pl.lit("no_debt"))
                      .when(pl.col("maintenance_ratio") < pl.col("liquidation_line")).then(pl.lit("below_liquidation"))
                      .when(pl.col("maintenance_ratio") < pl.col("warning_line")).then(pl.lit("below_warning"))
                      .otherwise(pl.lit("normal")))


def compute(inp: DailyInputs) -> DailyFrames:
    """The partition's report frames (customers without holdings, trades or cash still get a row)."""
    positions = _positions(inp).collect()
    lines = _lines(positions, inp)
    per = lines.lazy().group_by("customer_id").agg(
        day_pnl=pl.col("day_pnl").sum(), start_value=(pl.col("start_value") + pl.col("bought_amount")).sum(),
        market_value=pl.col("market_value").sum(), holdings=(pl.col("quantity") > 0).sum(),
        high_risk=pl.col("high_risk").sum(), concentrated=pl.col("concentrated").sum(),
        above_risk=pl.col("above_risk").fill_null(False).sum(),
    )
    summary = (
        inp.recipients.lazy().join(per, on="customer_id", how="left")
        .join(_cash(inp), on="customer_id", how="left")
        .join(_margin(positions, inp), on="customer_id", how="left")
        .with_columns(pl.col("day_pnl", "start_value", "market_value", "cash", "in_transit").fill_null(0.0),
                      pl.col("holdings", "high_risk", "concentrated", "above_risk").fill_null(0))
        .with_columns(day_return=pl.when(pl.col("start_value") > 0).then(pl.col("day_pnl") / pl.col("start_value")),
                      total_assets=pl.col("market_value") + pl.col("cash") + pl.col("in_transit"),
                      margin_state=pl.col("margin_state").fill_null("none"))
        .sort("customer_id").collect()
    )
    wanted = inp.recipients.select("customer_id")
    return DailyFrames(summary=summary, lines=lines.join(wanted, on="customer_id", how="semi"),
                       notes=inp.notes.join(wanted, on="customer_id", how="semi"))
