"""Importing accounts, positions, trades, orders and cash movements from a broker's own files.

Natural keys: ``account_no`` for accounts, ``account_no`` + ``symbol`` for positions,
``trade_no`` for trades, ``order_no`` for orders, ``movement_no`` for cash movements. Accounts refer to customers by ``customer_no``, which the importing
command resolves through the customers domain (``customer_ids``, passed in: accounts sit below
customers and do not read them); positions and trades refer to accounts by ``account_no`` and to
instruments by symbol (``600519.SH`` or the bare code), looked up in the market's master.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from functools import partial

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from brokercare.accounts.models import Account, CashMovement, Order, Position, Trade
from brokercare.core.bulkimport import (
    Column,
    ImportSpec,
    Prepared,
    choice,
    decimal,
    lookup,
    parse_date,
    parse_datetime,
    pattern,
    text,
)
from brokercare.core.calendar import SHANGHAI, is_trading_day
from brokercare.core.database import money, utcnow
from brokercare.core.identifiers import is_valid_card
from brokercare.market.service import instruments_sql
from brokercare.security.service import blind_index_many, ensure_data_key, get_cipher

#: Customer number -> id for the numbers that exist (``customers.service.ids_by_customer_no``).
CustomerIds = Callable[[Connection, Iterable[str]], dict[str, int]]

KIND = {"cash": "cash", "margin": "margin", "普通": "cash", "普通账户": "cash", "信用": "margin",
        "信用账户": "margin", "credit": "margin"}
ACCOUNT_STATUS = {"active": "active", "frozen": "frozen", "closed": "closed", "正常": "active",
                  "冻结": "frozen", "销户": "closed"}
SIDE = {"buy": "buy", "sell": "sell", "b": "buy", "s": "sell", "买入": "buy", "卖出": "sell",
        "买": "buy", "卖": "sell"}
ACCOUNT_NO = pattern(r"[0-9A-Za-z]{4,20}", "an account number (4-20 letters or digits)")
SYMBOL = pattern(r"(\d{6})(\.(SH|SZ|BJ|OF))?", "a symbol such as 600519.SH or 600519", upper=True)


def _card(v: str) -> str:
    c = v.strip().replace(" ", "")
    if not is_valid_card(c):
        raise ValueError("not a valid bank card number (length or Luhn check digit)")
    return c


def _resolve_symbols(conn: Connection, rows: dict[int, dict], errors: dict[int, str]) -> None:
    """Full symbols for bare codes (a stock before a fund with the same code); unknown → error."""
    instrument = instruments_sql()
    wanted = {r["symbol"] for r in rows.values()}
    full = {s for s in wanted if "." in s}
    known = set(lookup(conn, instrument.c.symbol, instrument.c.symbol, full))
    bare = sorted({s for s in wanted if "." not in s})
    by_code: dict[str, str] = {}
    rank = {"stock": 0, "etf": 1, "repo": 2, "convertible": 3, "bond": 4, "fund": 5}
    for start in range(0, len(bare), 500):
        batch = bare[start:start + 500]
        for code, symbol, kind in conn.execute(select(instrument.c.code, instrument.c.symbol, instrument.c.kind)
                                               .where(instrument.c.code.in_(batch))):
            prev = by_code.get(code)
            if prev is None or rank.get(kind, 9) < prev[1]:
                by_code[code] = (symbol, rank.get(kind, 9))
    for row_no, r in rows.items():
        s = r["symbol"]
        if "." in s:
            if s not in known:
                errors[row_no] = f"unknown instrument {s}"
        elif s in by_code:
            r["symbol"] = by_code[s][0]
        else:
            errors[row_no] = f"unknown instrument {s}"


# --- accounts -----------------------------------------------------------------------------------

ACCOUNT_COLUMNS = [
    Column("account_no", ACCOUNT_NO),
    Column("customer_no", pattern(r"[0-9A-Za-z]{4,20}", "a customer number")),
    Column("kind", choice(KIND, "account kind")),
    Column("opened_on", parse_date),
    Column("branch_code", pattern(r"[0-9A-Za-z]{2,8}", "a branch code")),
    Column("commission_rate", decimal(min_value=Decimal(0), max_value=Decimal("0.003"), places=6)),
    Column("cash_balance", decimal(min_value=Decimal(0))),
    Column("frozen_cash", decimal(min_value=Decimal(0)), required=False, default=Decimal("0.00")),
    Column("currency", pattern(r"CNY|USD|HKD", "a currency (CNY, USD, HKD)", upper=True),
           required=False, default="CNY"),
    Column("bank_name", text(32), required=False),
    Column("bank_card", _card, required=False),
    Column("sh_holder_no", pattern(r"[A-Z]\d{9}", "a Shanghai holder number (A123456789)", upper=True),
           required=False),
    Column("sz_holder_no", pattern(r"\d{10}", "a Shenzhen holder number (10 digits)"), required=False),
    Column("status", choice(ACCOUNT_STATUS, "account status"), required=False, default="active"),
]


def _prepare_accounts(conn: Connection, parsed: dict[int, dict], *, customer_ids: CustomerIds) -> Prepared:
    errors: dict[int, str] = {}
    customers = customer_ids(conn, (r["customer_no"] for r in parsed.values()))
    for row_no, r in parsed.items():
        if r["customer_no"] not in customers:
            errors[row_no] = f"customer {r['customer_no']} not found (import customers first)"
        elif r["opened_on"] > date.today():
            errors[row_no] = "opened_on cannot be in the future"
        elif r["frozen_cash"] > r["cash_balance"]:
            errors[row_no] = "frozen_cash exceeds cash_balance"
        elif r["bank_card"] and not r["bank_name"]:
            errors[row_no] = "bank_card given without bank_name"
    rows = {k: v for k, v in parsed.items() if k not in errors}
    with Session(bind=conn) as session:
        cipher = get_cipher(session)
    order = list(rows)
    cards = [rows[k]["bank_card"] for k in order]
    enc = cipher.encrypt_many(cards)
    hashes = blind_index_many([c for c in cards if c])
    it = iter(hashes)
    out = {}
    for i, row_no in enumerate(order):
        r = rows[row_no]
        out[row_no] = {
            "account_no": r["account_no"], "customer_id": customers[r["customer_no"]],
            "kind": r["kind"], "status": r["status"], "opened_on": r["opened_on"],
            "branch_code": r["branch_code"], "commission_rate": r["commission_rate"],
            "cash_balance": r["cash_balance"], "frozen_cash": r["frozen_cash"],
            "currency": r["currency"], "bank_name": r["bank_name"] or None,
            "bank_card_enc": enc[i], "bank_card_hash": next(it) if cards[i] else None,
            "sh_holder_no": r["sh_holder_no"] or None, "sz_holder_no": r["sz_holder_no"] or None,
        }
    return Prepared(out, errors)


def accounts_spec(customer_ids: CustomerIds) -> ImportSpec:
    return ImportSpec(
        kind="accounts", table=Account.__table__, columns=ACCOUNT_COLUMNS,
        key=("account_no",), key_columns=("account_no",),
        prepare=partial(_prepare_accounts, customer_ids=customer_ids),
        compared=("customer_id", "kind", "status", "opened_on", "branch_code", "commission_rate",
                  "cash_balance", "frozen_cash", "currency", "bank_name", "bank_card_hash",
                  "sh_holder_no", "sz_holder_no"),
        setup=ensure_data_key,
    )


# --- positions ----------------------------------------------------------------------------------

POSITION_COLUMNS = [
    Column("account_no", ACCOUNT_NO),
    Column("symbol", SYMBOL),
    Column("quantity", decimal(positive=True)),
    Column("available_quantity", decimal(min_value=Decimal(0)), required=False),
    Column("cost_price", decimal(min_value=Decimal(0), places=4)),
    Column("opened_on", parse_date, required=False),
]


def first_per_symbol(rows: dict[int, dict], errors: dict[int, str], owner: str,
                     what: str) -> list[tuple[int, dict]]:
    """The rows still valid after their symbols were resolved, one per (owner, symbol): 600519
    and 600519.SH in one file are the same holding, so the later row is an error."""
    seen: dict[tuple, int] = {}
    out = []
    for row_no, r in rows.items():
        if row_no in errors:
            continue
        key = (r[owner], r["symbol"])
        if key in seen:
            errors[row_no] = f"duplicate {what} {key[0]}/{key[1]} (first at row {seen[key]})"
            continue
        seen[key] = row_no
        out.append((row_no, r))
    return out


def _prepare_positions(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    accounts = lookup(conn, Account.account_no, Account.id, (r["account_no"] for r in parsed.values()))
    for row_no, r in parsed.items():
        if r["account_no"] not in accounts:
            errors[row_no] = f"account {r['account_no']} not found (import accounts first)"
        elif r["available_quantity"] is not None and r["available_quantity"] > r["quantity"]:
            errors[row_no] = "available_quantity exceeds quantity"
    rows = {k: v for k, v in parsed.items() if k not in errors}
    _resolve_symbols(conn, rows, errors)
    out, now = {}, utcnow()
    for row_no, r in first_per_symbol(rows, errors, "account_no", "position"):
        out[row_no] = {
            "account_id": accounts[r["account_no"]], "symbol": r["symbol"],
            "quantity": r["quantity"],
            "available_quantity": r["quantity"] if r["available_quantity"] is None else r["available_quantity"],
            "cost_price": r["cost_price"], "opened_on": r["opened_on"], "updated_at": now,
        }
    return Prepared(out, errors)


def positions_spec() -> ImportSpec:
    return ImportSpec(
        kind="positions", table=Position.__table__, columns=POSITION_COLUMNS,
        key=("account_no", "symbol"), key_columns=("account_id", "symbol"),
        prepare=_prepare_positions,
        compared=("quantity", "available_quantity", "cost_price", "opened_on"),
    )


# --- trades -------------------------------------------------------------------------------------

TRADE_COLUMNS = [
    Column("trade_no", pattern(r"[0-9A-Za-z_-]{4,24}", "a trade number (4-24 characters)")),
    Column("account_no", ACCOUNT_NO),
    Column("symbol", SYMBOL),
    Column("side", choice(SIDE, "side")),
    Column("price", decimal(positive=True, places=4)),
    Column("quantity", decimal(positive=True)),
    Column("amount", decimal(positive=True), required=False),
    Column("commission", decimal(min_value=Decimal(0)), required=False, default=Decimal("0.00")),
    Column("stamp_duty", decimal(min_value=Decimal(0)), required=False, default=Decimal("0.00")),
    Column("transfer_fee", decimal(min_value=Decimal(0)), required=False, default=Decimal("0.00")),
    Column("traded_at", parse_datetime),
]


def _prepare_trades(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    accounts = lookup(conn, Account.account_no, Account.id, (r["account_no"] for r in parsed.values()))
    now = utcnow()
    for row_no, r in parsed.items():
        local = r["traded_at"].astimezone(SHANGHAI)
        expected = money(r["price"] * r["quantity"])
        if r["account_no"] not in accounts:
            errors[row_no] = f"account {r['account_no']} not found (import accounts first)"
        elif r["traded_at"] > now:
            errors[row_no] = "traded_at is in the future"
        elif not is_trading_day(local.date()):
            errors[row_no] = f"traded_at {local.date()} is not a trading day"
        elif r["amount"] is not None and abs(r["amount"] - expected) > Decimal("0.01") \
                and not r["symbol"].startswith(("204", "1318")):
            errors[row_no] = f"amount {r['amount']} differs from price × quantity ({expected})"
        elif r["stamp_duty"] > 0 and r["side"] == "buy":
            errors[row_no] = "stamp duty is charged on sells only"
    rows = {k: v for k, v in parsed.items() if k not in errors}
    _resolve_symbols(conn, rows, errors)
    out = {}
    for row_no, r in rows.items():
        if row_no in errors:
            continue
        out[row_no] = {
            "trade_no": r["trade_no"], "account_id": accounts[r["account_no"]], "symbol": r["symbol"],
            "side": r["side"], "price": r["price"], "quantity": r["quantity"],
            "amount": r["amount"] if r["amount"] is not None else money(r["price"] * r["quantity"]),
            "commission": r["commission"], "stamp_duty": r["stamp_duty"],
            "transfer_fee": r["transfer_fee"], "traded_at": r["traded_at"],
        }
    return Prepared(out, errors)


def trades_spec() -> ImportSpec:
    return ImportSpec(
        kind="trades", table=Trade.__table__, columns=TRADE_COLUMNS,
        key=("trade_no",), key_columns=("trade_no",), prepare=_prepare_trades,
        compared=("account_id", "symbol", "side", "price", "quantity", "amount", "commission",
                  "stamp_duty", "transfer_fee", "traded_at"),
    )


# --- cash movements -----------------------------------------------------------------------------

MOVEMENT_KIND = {"bank_in": "bank_in", "bank_out": "bank_out", "dividend": "dividend",
                 "interest": "interest", "fee": "fee", "margin_interest": "margin_interest",
                 "银行转证券": "bank_in", "银证转入": "bank_in", "转入": "bank_in",
                 "证券转银行": "bank_out", "银证转出": "bank_out", "转出": "bank_out",
                 "红利": "dividend", "分红": "dividend", "股息红利": "dividend", "利息": "interest",
                 "利息归本": "interest", "费用": "fee", "融资利息": "margin_interest"}
#: Kinds that take money out of the account: their amount is negative.
OUTGOING = frozenset({"bank_out", "fee", "margin_interest"})
MOVEMENT_STATUS = {"pending": "pending", "done": "done", "failed": "failed", "处理中": "pending",
                   "成功": "done", "已完成": "done", "失败": "failed"}

MOVEMENT_COLUMNS = [
    Column("movement_no", pattern(r"[0-9A-Za-z_-]{4,24}", "a movement number (4-24 characters)")),
    Column("account_no", ACCOUNT_NO),
    Column("kind", choice(MOVEMENT_KIND, "movement kind")),
    Column("amount", decimal()),
    Column("status", choice(MOVEMENT_STATUS, "movement status"), required=False, default="done"),
    Column("bank_name", text(32), required=False),
    Column("occurred_at", parse_datetime),
]


def _prepare_movements(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    accounts = lookup(conn, Account.account_no, Account.id, (r["account_no"] for r in parsed.values()))
    now, out = utcnow(), {}
    for row_no, r in parsed.items():
        outgoing = r["kind"] in OUTGOING
        if r["account_no"] not in accounts:
            errors[row_no] = f"account {r['account_no']} not found (import accounts first)"
        elif r["amount"] == 0:
            errors[row_no] = "amount cannot be 0"
        elif (r["amount"] < 0) != outgoing:
            errors[row_no] = (f"amount {r['amount']} of a {r['kind']} must be "
                              f"{'negative (money out)' if outgoing else 'positive (money in)'}")
        elif r["occurred_at"] > now:
            errors[row_no] = "occurred_at is in the future"
        elif r["kind"] in ("bank_in", "bank_out") and not r["bank_name"]:
            errors[row_no] = "bank_name is required for a bank transfer"
        else:
            out[row_no] = {
                "movement_no": r["movement_no"], "account_id": accounts[r["account_no"]],
                "kind": r["kind"], "amount": r["amount"], "status": r["status"],
                "bank_name": r["bank_name"] or None, "occurred_at": r["occurred_at"],
            }
    return Prepared(out, errors)


def cash_movements_spec() -> ImportSpec:
    return ImportSpec(
        kind="cash_movements", table=CashMovement.__table__, columns=MOVEMENT_COLUMNS,
        key=("movement_no",), key_columns=("movement_no",), prepare=_prepare_movements,
        compared=("account_id", "kind", "amount", "status", "bank_name", "occurred_at"),
    )


# --- orders -------------------------------------------------------------------------------------

ORDER_STATUS = {"filled": "filled", "partial": "partial", "cancelled": "cancelled",
                "rejected": "rejected", "已成": "filled", "全部成交": "filled", "部成": "partial",
                "部分成交": "partial", "已撤": "cancelled", "撤单": "cancelled", "废单": "rejected",
                "拒绝": "rejected"}
ORDER_CHANNEL = {"app": "app", "web": "web", "pc": "pc", "phone": "phone", "branch": "branch",
                 "api": "api", "手机": "app", "网上": "web", "电脑": "pc", "电话": "phone",
                 "柜台": "branch", "程序化": "api"}

ORDER_COLUMNS = [
    Column("order_no", pattern(r"[0-9A-Za-z_-]{4,24}", "an order number (4-24 characters)")),
    Column("account_no", ACCOUNT_NO),
    Column("symbol", SYMBOL),
    Column("side", choice(SIDE, "side")),
    Column("price", decimal(positive=True, places=4)),
    Column("quantity", decimal(positive=True)),
    Column("filled_quantity", decimal(min_value=Decimal(0)), required=False, default=Decimal("0.00")),
    Column("status", choice(ORDER_STATUS, "order status")),
    Column("channel", choice(ORDER_CHANNEL, "channel"), required=False, default="app"),
    Column("placed_at", parse_datetime),
]


def _order_problem(r: dict, now) -> str | None:
    """Why an order's fill does not agree with its status or time, if it does not."""
    filled, qty, status = r["filled_quantity"], r["quantity"], r["status"]
    if filled > qty:
        return "filled_quantity exceeds quantity"
    if status == "filled" and filled != qty:
        return "a filled order has filled_quantity equal to quantity"
    if status == "partial" and not 0 < filled < qty:
        return "a partial order has filled_quantity between 0 and quantity"
    if status == "rejected" and filled:
        return "a rejected order has filled_quantity 0"
    if r["placed_at"] > now:
        return "placed_at is in the future"
    local = r["placed_at"].astimezone(SHANGHAI).date()
    if not is_trading_day(local):
        return f"placed_at {local} is not a trading day"
    return None


def _prepare_orders(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    accounts = lookup(conn, Account.account_no, Account.id, (r["account_no"] for r in parsed.values()))
    now = utcnow()
    for row_no, r in parsed.items():
        if r["account_no"] not in accounts:
            errors[row_no] = f"account {r['account_no']} not found (import accounts first)"
        elif problem := _order_problem(r, now):
            errors[row_no] = problem
    rows = {k: v for k, v in parsed.items() if k not in errors}
    _resolve_symbols(conn, rows, errors)
    out = {}
    for row_no, r in rows.items():
        if row_no not in errors:
            out[row_no] = {
                "order_no": r["order_no"], "account_id": accounts[r["account_no"]], "symbol": r["symbol"],
                "side": r["side"], "price": r["price"], "quantity": r["quantity"],
                "filled_quantity": r["filled_quantity"], "status": r["status"],
                "channel": r["channel"], "placed_at": r["placed_at"],
            }
    return Prepared(out, errors)


def orders_spec() -> ImportSpec:
    return ImportSpec(
        kind="orders", table=Order.__table__, columns=ORDER_COLUMNS,
        key=("order_no",), key_columns=("order_no",), prepare=_prepare_orders,
        compared=("account_id", "symbol", "side", "price", "quantity", "filled_quantity", "status",
                  "channel", "placed_at"),
    )
