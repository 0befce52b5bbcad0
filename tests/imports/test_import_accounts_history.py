"""Importing a broker's order book, cash movements and margin contracts: all or nothing, row-numbered reasons,
re-imports change nothing (both backends)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.imports.test_import import HEADER, PEOPLE, _snapshot, _write_csv
from typer.testing import CliRunner

from brokercare.accounts.models import CashMovement, MarginContract, MarginShort, Order
from brokercare.accounts.service import import_spec
from brokercare.cli import app
from brokercare.core.bulkimport import ImportRejected, run_import
from brokercare.customers.loading import spec as customers_spec
from brokercare.customers.service import ids_by_customer_no
from brokercare.market.service import load_instruments

ACC_HEADER = ["account_no", "customer_no", "kind", "opened_on", "branch_code", "commission_rate",
              "cash_balance"]
ACCOUNTS = [["100000000101", "800000000101", "普通", "2008-03-18", "110501", "0.00025", "152000.50"],
            ["200000000101", "800000000101", "信用", "2016-04-01", "110501", "0.0002", "3000"],
            ["100000000102", "800000000102", "普通", "2019-07-01", "310101", "0.0001", "8800"]]


@pytest.fixture
def brokerage(engine, tmp_path):
    load_instruments(engine)
    run_import(engine, customers_spec(), _write_csv(tmp_path / "c.csv", HEADER, PEOPLE))
    run_import(engine, import_spec("accounts", customer_ids=ids_by_customer_no),
               _write_csv(tmp_path / "a.csv", ACC_HEADER, ACCOUNTS))
    return engine


MOVE_HEADER = ["movement_no", "account_no", "kind", "amount", "status", "bank_name", "occurred_at"]
MOVEMENTS = [
    ["CM2026031000001", "100000000101", "银证转入", "50000.00", "成功", "招商银行", "2026-03-10 09:12:00"],
    ["CM2026031100002", "100000000101", "证券转银行", "-12000", "", "招商银行", "2026-03-11 15:40:10"],
    ["CM2026061800003", "100000000101", "红利", "1930.60", "", "", "2026-06-18 09:00:00"],
    ["CM2026062100004", "200000000101", "融资利息", "-215.37", "", "", "2026-06-21 16:00:00"],
    ["CM2026032000005", "100000000102", "bank_in", "3000", "failed", "中国工商银行", "2026-03-20 10:01:00"],
]


def test_cash_movements_import_checks_signs_and_reimport_changes_nothing(brokerage, session, tmp_path):
    bad = [list(r) for r in MOVEMENTS]
    bad[1][3] = "12000"  # money out written as a positive amount
    bad[4][2] = "转账"  # not a kind the file format knows
    path = _write_csv(tmp_path / "m_bad.csv", MOVE_HEADER, bad)
    with pytest.raises(ImportRejected) as err:
        run_import(brokerage, import_spec("cash_movements"), path)
    assert [e.row for e in err.value.report.errors] == [3, 6]
    assert "must be negative" in err.value.report.errors[0].reason
    assert "kind" in err.value.report.errors[1].reason
    assert _snapshot(brokerage, "cash_movements") == []

    path = _write_csv(tmp_path / "m.csv", MOVE_HEADER, MOVEMENTS)
    report = run_import(brokerage, import_spec("cash_movements"), path)
    assert (report.inserted, report.rejected) == (5, 0)
    moves = {m.movement_no: m for m in session.scalars(select(CashMovement))}
    assert moves["CM2026031100002"].kind == "bank_out" and moves["CM2026031100002"].amount == Decimal("-12000.00")
    assert moves["CM2026061800003"].kind == "dividend" and moves["CM2026061800003"].bank_name is None
    assert moves["CM2026032000005"].status == "failed"
    assert moves["CM2026031000001"].occurred_at.hour == 1  # 09:12 Beijing time is 01:12 UTC

    before = _snapshot(brokerage, "cash_movements")
    again = run_import(brokerage, import_spec("cash_movements"), path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    assert _snapshot(brokerage, "cash_movements") == before


ORDER_HEADER = ["order_no", "account_no", "symbol", "side", "price", "quantity", "filled_quantity",
                "status", "channel", "placed_at"]
ORDERS = [
    ["O20260310000001", "100000000101", "600519", "买入", "1500.00", "100", "100", "已成", "手机",
     "2026-03-10 10:15:01"],
    ["O20260311000002", "100000000101", "600519.SH", "卖出", "1530.00", "200", "100", "部成", "电脑",
     "2026-03-11 13:30:00"],
    ["O20260311000003", "100000000102", "300750.SZ", "buy", "200.00", "300", "0", "已撤", "",
     "2026-03-11 09:31:12"],
    ["O20260312000004", "200000000101", "000001.SZ", "B", "11.20", "1000", "", "废单", "柜台",
     "2026-03-12 14:55:00"],
]


def test_orders_import_checks_fills_against_status_and_reimport_changes_nothing(brokerage, session, tmp_path):
    bad = [list(r) for r in ORDERS]
    bad[0][6] = "50"  # "filled" but only half of it
    bad[3][9] = "2026-02-17 10:00:00"  # Spring Festival: the exchanges are closed
    path = _write_csv(tmp_path / "o_bad.csv", ORDER_HEADER, bad)
    with pytest.raises(ImportRejected) as err:
        run_import(brokerage, import_spec("orders"), path)
    assert [e.row for e in err.value.report.errors] == [2, 5]
    assert "filled order" in err.value.report.errors[0].reason
    assert "not a trading day" in err.value.report.errors[1].reason
    assert _snapshot(brokerage, "orders") == []

    path = _write_csv(tmp_path / "o.csv", ORDER_HEADER, ORDERS)
    result = CliRunner().invoke(app, ["import", "orders", str(path)])
    assert result.exit_code == 0, result.output
    orders = {o.order_no: o for o in session.scalars(select(Order))}
    assert orders["O20260310000001"].symbol == "600519.SH" and orders["O20260310000001"].channel == "app"
    assert orders["O20260311000002"].status == "partial" and orders["O20260311000002"].side == "sell"
    assert orders["O20260312000004"].status == "rejected" and orders["O20260312000004"].channel == "branch"

    before = _snapshot(brokerage, "orders")
    again = run_import(brokerage, import_spec("orders"), path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert _snapshot(brokerage, "orders") == before


CONTRACT_HEADER = ["contract_no", "account_no", "credit_limit", "financing_rate", "lending_rate",
                   "warning_line", "liquidation_line", "withdrawal_line", "financing_debt",
                   "lending_debt", "start_on", "end_on", "status"]
CONTRACTS = [["RZRQ2016040100001", "200000000101", "500000", "0.0835", "0.1035", "1.40", "1.30",
              "3.00", "120000.00", "36500.00", "2026-04-01", "2027-03-31", "正常"]]
SHORT_HEADER = ["contract_no", "symbol", "quantity", "opened_on"]
SHORTS = [["RZRQ2016040100001", "601318", "500", "2026-05-20"],
          ["RZRQ2016040100001", "000001.SZ", "2000", "2026-06-03"]]


def test_margin_contracts_and_shorts_need_a_margin_account_and_rising_lines(brokerage, session, tmp_path):
    bad = [list(CONTRACTS[0]), list(CONTRACTS[0])]
    bad[0][5], bad[0][6] = "1.30", "1.40"  # warning below liquidation
    bad[1][0], bad[1][1] = "RZRQ2019070100002", "100000000102"  # an ordinary (cash) account
    with pytest.raises(ImportRejected) as err:
        run_import(brokerage, import_spec("margin_contracts"), _write_csv(tmp_path / "cb.csv", CONTRACT_HEADER, bad))
    assert [e.row for e in err.value.report.errors] == [2, 3]
    assert "lines must rise" in err.value.report.errors[0].reason
    assert "not a margin account" in err.value.report.errors[1].reason
    assert _snapshot(brokerage, "margin_contracts") == []

    cpath = _write_csv(tmp_path / "c.csv", CONTRACT_HEADER, CONTRACTS)
    assert run_import(brokerage, import_spec("margin_contracts"), cpath).inserted == 1
    contract = session.scalar(select(MarginContract))
    assert (contract.status, contract.warning_line, contract.topup_days) == ("active", Decimal("1.4000"), 2)

    spath = _write_csv(tmp_path / "s.csv", SHORT_HEADER, SHORTS + [["RZRQ9999", "601318", "100", ""]])
    with pytest.raises(ImportRejected, match="row 4"):
        run_import(brokerage, import_spec("margin_shorts"), spath)
    assert _snapshot(brokerage, "margin_shorts") == []
    spath = _write_csv(tmp_path / "s2.csv", SHORT_HEADER, SHORTS)
    assert run_import(brokerage, import_spec("margin_shorts"), spath).inserted == 2
    assert {s.symbol for s in session.scalars(select(MarginShort))} == {"601318.SH", "000001.SZ"}
    for kind, path, n in (("margin_contracts", cpath, 1), ("margin_shorts", spath, 2)):
        again = run_import(brokerage, import_spec(kind), path)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, n)
