"""Churn risk, the data side: each customer's features as of a cut-off, the label of the window
after it, the rules baseline and the reasons in Chinese (docs/churn-model-card.md).

Every read ends at the cut-off — logins (customers), bank transfers and trades (accounts),
complaints and CSAT answers (the service hub), through their services, never their tables — so a
feature cannot see the future; only the label looks after it. A customer **left** in the window
when, in the 60 days after the cut-off, they transferred out, net, at least 10,000 元 and at least
30 % of the assets they held at the cut-off. The population of a cut-off is the customers who
used the app or the web in the half-year before it (who has not gone yet).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts
from brokercare.customers import service as customers
from brokercare.quality.kpis import complaint_rows
from brokercare.service import service as hub

WINDOW = timedelta(days=60)  # the label: left within this long after the cut-off
LEAVE_SHARE = 0.3  # taking at least this share of the assets held at the cut-off
ACTIVE = timedelta(days=180)  # the population: used the app or the web within this long before the cut-off
SERVICE_LOOKBACK = timedelta(days=180)  # complaints and CSAT answers
NET_OUT_FEN = 1_000_000  # 10,000 元 transferred out net
NEVER_DAYS = 365  # "days since" of a customer never seen in the year before
TOP_SHARE = 0.05

#: The model's inputs, in order. Money in 万元.
FEATURES = ("logins_30d", "visits_30d", "visits_prior_60d", "visits_older_90d", "days_since_visit",
            "days_since_trade", "money_in_90d", "money_out_90d", "transfers_out_90d", "complaints_180d",
            "csat_shortfall_180d", "csat_low_180d")
#: Features that are explained together, one reason each.
REASON_GROUPS = {"logins": ("logins_30d", "visits_30d", "visits_prior_60d", "visits_older_90d",
                            "days_since_visit"),
                 "trading": ("days_since_trade",),
                 "transfers": ("money_in_90d", "money_out_90d", "transfers_out_90d"),
                 "complaints": ("complaints_180d",),
                 "csat": ("csat_shortfall_180d", "csat_low_180d")}


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _days_since(col: str, cutoff: datetime) -> pl.Expr:
    days = (pl.lit(cutoff) - pl.col(col)).dt.total_seconds() / 86_400
    return days.floor().clip(0, NEVER_DAYS).fill_null(NEVER_DAYS)


def _logins(conn: Connection, cutoff: datetime) -> pl.DataFrame:
    """Who used the app or the web in the half-year before the cut-off (the population), how much
    in the last 30 days, in the 60 before and in the 90 before those, and when last."""
    recent = customers.login_summary(conn, start=cutoff - timedelta(days=30), end=cutoff)
    prior = customers.login_summary(conn, start=cutoff - timedelta(days=90), end=cutoff - timedelta(days=30))
    older = customers.login_summary(conn, start=cutoff - ACTIVE, end=cutoff - timedelta(days=90))
    year = customers.login_summary(conn, start=cutoff - timedelta(days=NEVER_DAYS), end=cutoff)
    active = pl.concat([f.select("customer_id") for f in (recent, prior, older)]).unique()
    return (active.join(recent.select("customer_id", logins_30d="logins", visits_30d="visits"), on="customer_id", how="left")
            .join(prior.select("customer_id", visits_prior_60d="visits"), on="customer_id", how="left")
            .join(older.select("customer_id", visits_older_90d="visits"), on="customer_id", how="left")
            .join(year.select("customer_id", "last_visit_at"), on="customer_id", how="left"))


def _service(conn: Connection, cutoff: datetime) -> pl.DataFrame:
    """Complaints made and CSAT answers given in the half-year before the cut-off (a survey sent
    before it but answered after does not count)."""
    start = cutoff - SERVICE_LOOKBACK
    complaints = complaint_rows(hub.ticket_facts(conn, start, cutoff), hub.complaint_feedback_facts(conn, start, cutoff),
                                start, cutoff)
    complaints = complaints.drop_nulls("customer_id").group_by("customer_id").agg(complaints_180d=pl.len())
    csat = hub.csat_facts(conn, start, cutoff).filter(pl.col("score").is_not_null() & (pl.col("responded_at") < cutoff))
    csat = csat.drop_nulls("customer_id").group_by("customer_id").agg(
        csat_average_180d=pl.col("score").mean(), csat_low_180d=(pl.col("score") <= 2).sum())
    return complaints.join(csat, on="customer_id", how="full", coalesce=True)


def features(conn: Connection, cutoff: datetime) -> pl.DataFrame:
    """One row per customer who used the app or the web in the half-year before ``cutoff``: ``customer_id``,
    :data:`FEATURES` and the CSAT average the reasons quote, from reads that all end at the cut-off."""
    cutoff = _utc(cutoff)
    flows = accounts.bank_flows(conn, start=cutoff - timedelta(days=90), end=cutoff)
    trades = accounts.last_trades(conn, before=cutoff)
    frame = (_logins(conn, cutoff)
             .join(flows, on="customer_id", how="left")
             .join(trades.select("customer_id", "last_trade_at"), on="customer_id", how="left")
             .join(_service(conn, cutoff), on="customer_id", how="left"))
    counts = ["logins_30d", "visits_30d", "visits_prior_60d", "visits_older_90d", "transfers_out", "complaints_180d", "csat_low_180d"]
    frame = frame.with_columns(pl.col(counts).fill_null(0), pl.col("in_fen", "out_fen").fill_null(0))
    return frame.select(
        "customer_id", "logins_30d", "visits_30d", "visits_prior_60d", "visits_older_90d",
        _days_since("last_visit_at", cutoff).alias("days_since_visit"),
        _days_since("last_trade_at", cutoff).alias("days_since_trade"),
        (pl.col("in_fen") / 1e6).alias("money_in_90d"), (pl.col("out_fen") / 1e6).alias("money_out_90d"),
        pl.col("transfers_out").alias("transfers_out_90d"), "complaints_180d",
        # below 4 points on average (0 without an answer), so no input is ever missing
        (4 - pl.col("csat_average_180d")).clip(0, None).fill_null(0).alias("csat_shortfall_180d"),
        "csat_low_180d", pl.col("csat_average_180d").cast(pl.Float64),
    ).with_columns(pl.col(FEATURES).cast(pl.Float64)).sort("customer_id")


def assets_now(session: Session) -> pl.DataFrame:
    """Every customer's net assets today (accounts' valuation), in fen: where the label's estimate
    of the assets held at a past cut-off starts from."""
    rows = [(a.customer_id, int(a.net_assets * 100)) for a in accounts.net_assets_by_customer(session)]
    return pl.DataFrame(rows, schema={"customer_id": pl.Int64, "assets_fen": pl.Int64}, orient="row")


def labels(conn: Connection, cutoff: datetime, *, now: datetime, assets: pl.DataFrame) -> pl.DataFrame:
    """``customer_id``, ``left``: who took their money away in the window after ``cutoff`` — net
    transfers out of 10,000 元 or more and at least 30 % of what they held at the cut-off. That
    holding is estimated as today's net assets (``assets``) plus the net transfers out since the
    cut-off (market moves ignored). Needs ``cutoff + WINDOW <= now``."""
    cutoff, now = _utc(cutoff), _utc(now)
    if cutoff + WINDOW > now:
        raise ValueError("the label of a cut-off needs its whole window in the past")
    window = accounts.bank_flows(conn, start=cutoff, end=cutoff + WINDOW)
    since = accounts.bank_flows(conn, start=cutoff, end=now).select(
        "customer_id", since_net_out=pl.col("out_fen") - pl.col("in_fen"))
    frame = (window.with_columns(net_out=pl.col("out_fen") - pl.col("in_fen"))
             .join(since, on="customer_id", how="left").join(assets, on="customer_id", how="left")
             .with_columns(held=pl.col("assets_fen").fill_null(0).clip(0, None) + pl.col("since_net_out")))
    gone = frame.filter((pl.col("net_out") >= NET_OUT_FEN) & (pl.col("net_out") >= LEAVE_SHARE * pl.col("held")))
    return gone.select("customer_id", left=pl.lit(True))


def labelled(conn: Connection, cutoff: datetime, *, now: datetime, assets: pl.DataFrame) -> pl.DataFrame:
    """The cut-off's population with its features and its label (False where none)."""
    frame = features(conn, cutoff).join(labels(conn, cutoff, now=now, assets=assets), on="customer_id", how="left")
    return frame.with_columns(pl.col("left").fill_null(False), cutoff=pl.lit(_utc(cutoff)))


# --- the rules baseline ------------------------------------------------------------------------

def rules_score(frame: pl.DataFrame) -> np.ndarray:
    """What a desk would do without a model: one point per warning sign — not seen in the app for
    30 days, visits halved against the two months before, 5 万元 or more transferred out net in 90 days,
    a complaint, a CSAT answer of 1–2 in the half-year."""
    signs = [pl.col("days_since_visit") >= 30,
             pl.col("visits_30d") * 2 <= pl.col("visits_prior_60d") / 2,
             pl.col("money_out_90d") - pl.col("money_in_90d") >= 5,
             pl.col("complaints_180d") >= 1,
             pl.col("csat_low_180d") >= 1]
    return frame.select(pl.sum_horizontal([s.cast(pl.Int64) for s in signs])).to_series().to_numpy().astype(float)


# --- measures ----------------------------------------------------------------------------------

def precision_at_top(y: np.ndarray, score: np.ndarray, share: float = TOP_SHARE) -> float:
    """Of the ``share`` of customers scored riskiest (ties broken by order, stably), how many left."""
    k = max(1, int(np.ceil(share * len(y))))
    top = np.argsort(-score, kind="stable")[:k]
    return float(np.mean(y[top]))


# --- reasons -----------------------------------------------------------------------------------

def _wan(value: float) -> str:
    return f"{value:,.1f} 万元" if value >= 1 else f"{value * 10_000:,.0f} 元"


def reason_text(group: str, row: dict) -> str:
    """One warning sign in words a manager reads (the customer's own figures, no codes)."""
    if group == "logins":
        days, now, before = int(row["days_since_visit"]), int(row["visits_30d"]), row["visits_prior_60d"] / 2
        if days >= 30:
            return f"已 {days} 天未登录 App" if days < NEVER_DAYS else "近一年没有登录 App"
        if now < before:
            return f"App 使用减少：近 30 天 {now} 次，此前两个月月均 {before:.0f} 次"
        return f"App 使用不多：近 30 天登录 {int(row['logins_30d'])} 次"
    if group == "trading":
        days = int(row["days_since_trade"])
        return "近一年没有交易" if days >= NEVER_DAYS else f"已 {days} 天没有交易"
    if group == "transfers":
        net = row["money_out_90d"] - row["money_in_90d"]
        outs = int(row["transfers_out_90d"])
        if net > 0:
            return f"近 90 天净转出资金 {_wan(net)}（转出 {outs} 笔）"
        return f"近 90 天转出资金 {_wan(row['money_out_90d'])}（{outs} 笔）"
    if group == "complaints":
        return f"近半年投诉 {int(row['complaints_180d'])} 次"
    average = row["csat_average_180d"]
    low = int(row["csat_low_180d"])
    if average is None or np.isnan(average):
        return "近半年没有满意度评价"
    return f"近半年满意度偏低：平均 {average:.1f} 分，差评 {low} 次"
