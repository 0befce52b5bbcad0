"""Importing margin contracts (融资融券合同) and the shares they owe (融券负债) from a broker's files.

Natural keys: ``contract_no`` for contracts, ``contract_no`` + ``symbol`` for short positions. A
contract belongs to an existing *margin* account; its lines are checked in the order the margin
rules need them (liquidation below warning below withdrawal, all above 100 %), since the
maintenance-ratio checks and margin calls read them as they are.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, select

from brokercare.accounts.loading import ACCOUNT_NO, SYMBOL, _resolve_symbols, first_per_symbol
from brokercare.accounts.models import Account, MarginContract, MarginShort
from brokercare.core.bulkimport import (
    Column,
    ImportSpec,
    Prepared,
    choice,
    decimal,
    lookup,
    parse_date,
    pattern,
)

CONTRACT_NO = pattern(r"[0-9A-Za-z_-]{4,24}", "a contract number (4-24 characters)")
CONTRACT_STATUS = {"active": "active", "closed": "closed", "expired": "expired", "正常": "active",
                   "有效": "active", "了结": "closed", "已了结": "closed", "到期": "expired"}
RATE = decimal(min_value=Decimal(0), max_value=Decimal("0.2"), places=4)
LINE = decimal(min_value=Decimal("1.0"), max_value=Decimal("10"), places=4)
MONEY = decimal(min_value=Decimal(0))

CONTRACT_COLUMNS = [
    Column("contract_no", CONTRACT_NO),
    Column("account_no", ACCOUNT_NO),
    Column("credit_limit", decimal(positive=True)),
    Column("financing_rate", RATE),
    Column("lending_rate", RATE),
    Column("warning_line", LINE, required=False, default=Decimal("1.4000")),
    Column("liquidation_line", LINE, required=False, default=Decimal("1.3000")),
    Column("withdrawal_line", LINE, required=False, default=Decimal("3.0000")),
    Column("topup_days", pattern(r"[1-9]", "a number of trading days (1-9)"), required=False, default="2"),
    Column("financing_debt", MONEY, required=False, default=Decimal("0.00")),
    Column("lending_debt", MONEY, required=False, default=Decimal("0.00")),
    Column("interest_due", MONEY, required=False, default=Decimal("0.00")),
    Column("start_on", parse_date),
    Column("end_on", parse_date),
    Column("status", choice(CONTRACT_STATUS, "contract status"), required=False, default="active"),
]


def _contract_problem(r: dict, kind: str | None) -> str | None:
    if kind is None:
        return f"account {r['account_no']} not found (import accounts first)"
    if kind != "margin":
        return f"account {r['account_no']} is a {kind} account, not a margin account"
    if not r["liquidation_line"] < r["warning_line"] < r["withdrawal_line"]:
        return "lines must rise: liquidation_line < warning_line < withdrawal_line"
    if r["end_on"] <= r["start_on"]:
        return "end_on must be after start_on"
    if r["financing_debt"] + r["lending_debt"] > r["credit_limit"] * Decimal("1.5"):
        return "financing_debt + lending_debt is far above credit_limit (more than 150 %)"
    return None


def _prepare_contracts(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    wanted = sorted({r["account_no"] for r in parsed.values()})
    accounts = {}
    for start in range(0, len(wanted), 500):
        accounts.update({no: (aid, kind) for no, aid, kind in conn.execute(
            select(Account.account_no, Account.id, Account.kind)
            .where(Account.account_no.in_(wanted[start:start + 500])))})
    out = {}
    for row_no, r in parsed.items():
        aid, kind = accounts.get(r["account_no"], (None, None))
        if problem := _contract_problem(r, kind):
            errors[row_no] = problem
            continue
        out[row_no] = {c: r[c] for c in (
            "contract_no", "credit_limit", "financing_rate", "lending_rate", "warning_line",
            "liquidation_line", "withdrawal_line", "financing_debt", "lending_debt", "interest_due",
            "start_on", "end_on", "status")} | {"account_id": aid, "topup_days": int(r["topup_days"])}
    return Prepared(out, errors)


def margin_contracts_spec() -> ImportSpec:
    return ImportSpec(
        kind="margin_contracts", table=MarginContract.__table__, columns=CONTRACT_COLUMNS,
        key=("contract_no",), key_columns=("contract_no",), prepare=_prepare_contracts,
        compared=("account_id", "credit_limit", "financing_rate", "lending_rate", "warning_line",
                  "liquidation_line", "withdrawal_line", "topup_days", "financing_debt",
                  "lending_debt", "interest_due", "start_on", "end_on", "status"),
    )


SHORT_COLUMNS = [
    Column("contract_no", CONTRACT_NO),
    Column("symbol", SYMBOL),
    Column("quantity", decimal(positive=True)),
    Column("opened_on", parse_date, required=False),
]


def _prepare_shorts(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    contracts = lookup(conn, MarginContract.contract_no, MarginContract.id,
                       (r["contract_no"] for r in parsed.values()))
    for row_no, r in parsed.items():
        if r["contract_no"] not in contracts:
            errors[row_no] = f"margin contract {r['contract_no']} not found (import margin_contracts first)"
    rows = {k: v for k, v in parsed.items() if k not in errors}
    _resolve_symbols(conn, rows, errors)
    out = {}
    for row_no, r in first_per_symbol(rows, errors, "contract_no", "short"):
        out[row_no] = {"contract_id": contracts[r["contract_no"]], "symbol": r["symbol"],
                       "quantity": r["quantity"], "opened_on": r["opened_on"]}
    return Prepared(out, errors)


def margin_shorts_spec() -> ImportSpec:
    return ImportSpec(
        kind="margin_shorts", table=MarginShort.__table__, columns=SHORT_COLUMNS,
        key=("contract_no", "symbol"), key_columns=("contract_id", "symbol"),
        prepare=_prepare_shorts, compared=("quantity", "opened_on"),
    )
