"""Importing the IPO calendar (``brokercare import ipo_issues``): the issues a broker's data vendor
or the exchanges' announcements list, with their subscription code, dates, price and cap.

Natural key: the subscription code (申购代码). The reminders, quotas and lottery in ``ipo`` read
these rows, so an issue is checked against the same rules they apply: the board belongs to the
exchange, the per-account cap is a whole number of subscription units (``ipo_rules.yaml``), the
subscription day is a trading day and the later dates follow it.
"""

from __future__ import annotations

from sqlalchemy import Connection

from brokercare.core.bulkimport import (
    Column,
    ImportSpec,
    Prepared,
    choice,
    decimal,
    parse_date,
    pattern,
    text,
)
from brokercare.core.calendar import add_trading_days, is_trading_day
from brokercare.monitoring.ipo import rules
from brokercare.monitoring.models import IpoIssue

BOARD = {"main": "main", "chinext": "chinext", "star": "star", "bse": "bse", "主板": "main",
         "创业板": "chinext", "科创板": "star", "北交所": "bse"}
EXCHANGE = {"SH": "SH", "SZ": "SZ", "BJ": "BJ", "上交所": "SH", "上海": "SH", "深交所": "SZ",
            "深圳": "SZ", "北交所": "BJ", "北京": "BJ"}
#: Boards each exchange lists new shares on.
BOARDS_OF = {"SH": ("main", "star"), "SZ": ("main", "chinext"), "BJ": ("bse",)}
#: BSE subscriptions work with frozen funds, not market value; their unit is 100 shares.
BSE_UNIT = 100

COLUMNS = [
    Column("code", pattern(r"\d{6}", "a 6-digit subscription code")),
    Column("symbol", pattern(r"\d{6}\.(SH|SZ|BJ)", "a listed symbol such as 688981.SH", upper=True)),
    Column("name", text(32)),
    Column("exchange", choice(EXCHANGE, "exchange")),
    Column("board", choice(BOARD, "board")),
    Column("subscribe_on", parse_date),
    Column("price", decimal(positive=True, places=2)),
    Column("max_shares", pattern(r"\d{1,9}", "a whole number of shares")),
    Column("results_on", parse_date, required=False),
    Column("payment_on", parse_date, required=False),
    Column("listing_on", parse_date, required=False),
    Column("industry", text(32), required=False),
    Column("source", text(120), required=False, default="broker import"),
]


def _unit(exchange: str, board: str) -> int:
    for q in rules()["quota"]:
        if q["exchange"] == exchange and q["board"] == board:
            return int(q["shares"])
    return BSE_UNIT


def _problem(r: dict) -> str | None:
    """Why an issue breaks the exchange's rules or its own dates, if it does."""
    if r["board"] not in BOARDS_OF[r["exchange"]]:
        return f"board {r['board']} is not on exchange {r['exchange']}"
    if not r["symbol"].endswith("." + r["exchange"]):
        return f"symbol {r['symbol']} is not listed on {r['exchange']}"
    unit, cap = _unit(r["exchange"], r["board"]), int(r["max_shares"])
    if cap <= 0 or cap % unit:
        return f"max_shares {cap} is not a whole number of {unit}-share subscription units"
    if not is_trading_day(r["subscribe_on"]):
        return f"subscribe_on {r['subscribe_on']} is not a trading day"
    if r["results_on"] < r["subscribe_on"] or r["payment_on"] < r["results_on"]:
        return "results_on and payment_on must follow subscribe_on, in that order"
    if r["listing_on"] is not None and r["listing_on"] <= r["payment_on"]:
        return "listing_on must be after payment_on"
    return None


def _prepare(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    out = {}
    for row_no, r in parsed.items():
        t2 = add_trading_days(r["subscribe_on"], 2)  # announcement and payment fall on T+2
        r["results_on"] = r["results_on"] or t2
        r["payment_on"] = r["payment_on"] or r["results_on"]
        if problem := _problem(r):
            errors[row_no] = problem
            continue
        out[row_no] = {c: r[c] for c in ("code", "symbol", "name", "exchange", "board", "subscribe_on",
                                          "price", "results_on", "payment_on", "listing_on")}
        out[row_no] |= {"max_shares": int(r["max_shares"]), "industry": r["industry"] or None,
                        "source": r["source"]}
    return Prepared(out, errors)


def ipo_issues_spec() -> ImportSpec:
    return ImportSpec(
        kind="ipo_issues", table=IpoIssue.__table__, columns=COLUMNS,
        key=("code",), key_columns=("code",), prepare=_prepare,
        compared=("symbol", "name", "exchange", "board", "subscribe_on", "price", "max_shares",
                  "results_on", "payment_on", "listing_on", "industry", "source"),
    )
