"""Importing a broker's own files: all or nothing, quarantine, idempotent re-imports (both backends)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from brokercare.accounts.models import Account, Position, Trade
from brokercare.accounts.service import import_spec
from brokercare.cli import app
from brokercare.core.bulkimport import ImportRejected, run_import
from brokercare.core.errors import ValidationFailed
from brokercare.customers.loading import spec as customers_spec
from brokercare.customers.models import Customer
from brokercare.customers.service import ids_by_customer_no
from brokercare.demo.identity import id_body, id_numbers
from brokercare.market.service import load_instruments
from brokercare.security.crypto import blind_index, get_cipher

HEADER = ["customer_no", "name", "gender", "birth_date", "id_number", "phone", "address", "email",
          "province", "city", "occupation", "education", "annual_income", "marital_status",
          "branch_code", "opened_on", "risk_level", "investor_type", "status"]


def _id(region: int, birth: str, seq: int) -> str:
    body = id_body(np.array([region]), np.array([birth], dtype="datetime64[D]"), np.array([seq]))
    return str(id_numbers(body)[0])


PEOPLE = [
    ["800000000101", "王建国", "男", "1968-05-12", _id(110105, "1968-05-12", 131), "13901234567",
     "北京市朝阳区建国路88号", "wjg@163.com", "北京", "北京", "企业主", "本科", "1200000", "已婚",
     "110501", "2008-03-18", "C4", "专业投资者", "正常"],
    ["800000000102", "李娜", "女", "1990-11-02", _id(310115, "1990-11-02", 246), "186 2100 8899",
     "上海市浦东新区世纪大道100号", "", "上海", "上海", "程序员", "硕士", "360000", "未婚",
     "310101", "2019-07-01", "C3", "", ""],
    ["800000000103", "张伟", "M", "19750301", _id(440305, "1975-03-01", 51), "+8613800138000",
     "广东省深圳市南山区科技路1号", "", "广东", "深圳", "医生", "博士", "520000", "married",
     "440301", "2012-01-09", "C5", "ordinary", "active"],
]


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _snapshot(engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


def test_customers_import_encrypts_pii_and_reimport_changes_nothing(engine, session, tmp_path):
    path = _write_csv(tmp_path / "customers.csv", HEADER, PEOPLE)
    report = run_import(engine, customers_spec(), path)
    assert (report.rows, report.inserted, report.rejected) == (3, 3, 0)
    cipher = get_cipher(session)
    wang = session.scalar(select(Customer).where(Customer.customer_no == "800000000101"))
    assert wang.gender == "M" and wang.investor_type == "professional" and wang.risk_level == "C4"
    assert "1968" not in wang.id_number_enc and cipher.decrypt(wang.id_number_enc) == PEOPLE[0][4]
    assert wang.id_number_hash == blind_index(PEOPLE[0][4])
    li = session.scalar(select(Customer).where(Customer.customer_no == "800000000102"))
    assert cipher.decrypt(li.phone_enc) == "18621008899" and li.marital_status == "single"

    before = _snapshot(engine, "customers")
    again = run_import(engine, customers_spec(), path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert _snapshot(engine, "customers") == before

    # a corrected file updates only the row that changed
    changed = [list(r) for r in PEOPLE]
    changed[1][6] = "上海市徐汇区漕溪北路18号"
    fixed = run_import(engine, customers_spec(), _write_csv(tmp_path / "c2.csv", HEADER, changed))
    assert (fixed.inserted, fixed.updated, fixed.unchanged) == (0, 1, 2)
    session.expire_all()
    li = session.scalar(select(Customer).where(Customer.customer_no == "800000000102"))
    assert cipher.decrypt(li.address_enc) == "上海市徐汇区漕溪北路18号"


def test_malformed_file_leaves_the_database_exactly_as_it_was(engine, tmp_path):
    run_import(engine, customers_spec(), _write_csv(tmp_path / "ok.csv", HEADER, PEOPLE[:1]))
    before = _snapshot(engine, "customers")
    bad = [list(r) for r in PEOPLE]
    bad[0][10] = "退休"  # a change to an existing customer that must not be applied
    bad[1][4] = bad[1][4][:-1] + ("0" if bad[1][4][-1] != "0" else "1")  # wrong check digit
    bad[2][3] = "1975-02-30"
    path = _write_csv(tmp_path / "bad.csv", HEADER, bad)
    with pytest.raises(ImportRejected) as err:
        run_import(engine, customers_spec(), path)
    report = err.value.report
    assert [e.row for e in report.errors] == [3, 4]
    assert "check digit" in report.errors[0].reason and "birth_date" in report.errors[1].reason
    assert _snapshot(engine, "customers") == before


def test_quarantine_imports_good_rows_and_lists_bad_ones_with_reasons(engine, session, tmp_path):
    rows = [list(r) for r in PEOPLE]
    rows[1][5] = "12345"  # not a mobile number
    rows.append(list(PEOPLE[0]))  # the same customer number twice
    rows.append(["800000000104", "赵敏", "女", "1985-08-08", _id(330106, "1985-08-08", 111),
                 "13512345678", "", "", "浙江", "杭州", "教师", "", "", "", "330101", "2015-05-05",
                 "C2", "", ""])  # sequence 111 is odd: the number says a man
    bad_file = tmp_path / "quarantine" / "bad.csv"
    report = run_import(engine, customers_spec(), _write_csv(tmp_path / "c.csv", HEADER, rows),
                        quarantine=bad_file)
    assert (report.inserted, report.rejected) == (2, 3)
    with bad_file.open(encoding="utf-8-sig") as f:
        listed = list(csv.DictReader(f))
    assert [r["row"] for r in listed] == ["3", "5", "6"]
    assert "phone" in listed[0]["reason"] and listed[0]["name"] == "李娜"
    assert "duplicate customer_no" in listed[1]["reason"] and "row 2" in listed[1]["reason"]
    assert "gender" in listed[2]["reason"]
    nos = set(session.scalars(select(Customer.customer_no)))
    assert nos == {"800000000101", "800000000103"}


def test_missing_column_and_gbk_files(engine, tmp_path):
    path = _write_csv(tmp_path / "c.csv", [h for h in HEADER if h != "id_number"],
                      [[v for h, v in zip(HEADER, r, strict=True) if h != "id_number"] for r in PEOPLE])
    with pytest.raises(ValidationFailed, match="missing required column"):
        run_import(engine, customers_spec(), path)
    # back-office exports are often GBK
    report = run_import(engine, customers_spec(), _write_csv(tmp_path / "gbk.csv", HEADER, PEOPLE, "gbk"))
    assert report.inserted == 3


def test_accounts_positions_and_trades_chain_with_parquet(engine, session, tmp_path):
    load_instruments(engine)
    run_import(engine, customers_spec(), _write_csv(tmp_path / "c.csv", HEADER, PEOPLE))
    acc_header = ["account_no", "customer_no", "kind", "opened_on", "branch_code", "commission_rate",
                  "cash_balance", "bank_name", "bank_card", "sh_holder_no", "sz_holder_no"]
    accounts = [
        ["100000000101", "800000000101", "普通", "2008-03-18", "110501", "0.00025", "152000.50",
         "招商银行", "6225880137006681", "A123456789", "0123456789"],
        ["200000000101", "800000000101", "信用", "2016-04-01", "110501", "0.0002", "3000", "", "", "", ""],
        ["100000000102", "800000000102", "cash", "2019-07-01", "310101", "0.0001", "8800", "", "", "", ""],
        ["100000000999", "899999999999", "cash", "2019-07-01", "310101", "0.0001", "1", "", "", "", ""],
    ]
    path = _write_csv(tmp_path / "a.csv", acc_header, accounts)
    with pytest.raises(ImportRejected, match="row 5"):
        run_import(engine, import_spec("accounts", customer_ids=ids_by_customer_no), path)
    report = run_import(engine, import_spec("accounts", customer_ids=ids_by_customer_no), path, quarantine=tmp_path / "a_bad.csv")
    assert (report.inserted, report.rejected) == (3, 1)
    acct = session.scalar(select(Account).where(Account.account_no == "100000000101"))
    assert acct.cash_balance == Decimal("152000.50")
    assert get_cipher(session).decrypt(acct.bank_card_enc) == "6225880137006681"

    positions = pd.DataFrame({
        "account_no": ["100000000101", "100000000101", "200000000101", "100000000102"],
        "symbol": ["600519", "000001.OF", "300750.SZ", "999999"],
        "quantity": [200.0, 10000.5, 300.0, 100.0],
        "cost_price": [1580.2, 1.02, 210.0, 10.0],
        "opened_on": pd.to_datetime(["2021-02-01", "2022-06-30", "2024-09-30", "2024-01-02"]),
    })
    ppath = tmp_path / "positions.parquet"
    positions.to_parquet(ppath)
    report = run_import(engine, import_spec("positions"), ppath, quarantine=tmp_path / "p_bad.csv")
    assert (report.inserted, report.rejected) == (3, 1)
    assert report.errors[0].row == 5 and "unknown instrument" in report.errors[0].reason
    held = {p.symbol: p for p in session.scalars(select(Position))}
    assert set(held) == {"600519.SH", "000001.OF", "300750.SZ"}
    assert held["000001.OF"].quantity == Decimal("10000.50")
    again = run_import(engine, import_spec("positions"), ppath, quarantine=tmp_path / "p_bad2.csv")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)

    t_header = ["trade_no", "account_no", "symbol", "side", "price", "quantity", "amount",
                "commission", "stamp_duty", "transfer_fee", "traded_at"]
    trades = [
        ["T20260310000001", "100000000101", "600519.SH", "买入", "1500.00", "100", "150000.00",
         "37.50", "0", "1.50", "2026-03-10 10:15:32"],
        ["T20260311000002", "100000000101", "600519.SH", "卖出", "1520.00", "100", "152000.00",
         "38.00", "76.00", "1.52", "2026-03-11 14:01:05"],
        ["T20260218000003", "100000000101", "600519.SH", "buy", "1500.00", "100", "", "37.50", "0",
         "1.50", "2026-02-18 10:00:00"],  # Spring Festival: the exchanges are closed
        ["T20260312000004", "100000000101", "600519.SH", "sell", "1500.00", "100", "140000.00", "5",
         "0", "0", "2026-03-12 10:00:00"],  # amount does not match price × quantity
    ]
    tpath = _write_csv(tmp_path / "t.csv", t_header, trades)
    before = _snapshot(engine, "trades")
    with pytest.raises(ImportRejected) as err:
        run_import(engine, import_spec("trades"), tpath)
    assert [e.row for e in err.value.report.errors] == [4, 5]
    assert "not a trading day" in err.value.report.errors[0].reason
    assert _snapshot(engine, "trades") == before
    report = run_import(engine, import_spec("trades"), tpath, quarantine=tmp_path / "t_bad.csv")
    assert report.inserted == 2
    sell = session.scalar(select(Trade).where(Trade.trade_no == "T20260311000002"))
    assert sell.side == "sell" and sell.stamp_duty == Decimal("76.00")
    assert sell.traded_at.hour == 6  # 14:01 Beijing time is 06:01 UTC
    again = run_import(engine, import_spec("trades"), tpath, quarantine=tmp_path / "t_bad2.csv")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_cli_reports_rows_and_exit_code(engine, tmp_path):
    bad = [list(r) for r in PEOPLE]
    bad[2][3] = "not-a-date"
    path = _write_csv(tmp_path / "bad.csv", HEADER, bad)
    result = CliRunner().invoke(app, ["import", "customers", str(path)])
    assert result.exit_code == 1
    assert "Nothing imported" in result.output and "birth_date" in result.output
    result = CliRunner().invoke(app, ["import", "customers", str(path), "--quarantine",
                                      str(tmp_path / "q.csv")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "q.csv").exists()
    result = CliRunner().invoke(app, ["import", "holdings", str(path)])
    assert result.exit_code != 0


def test_cli_imports_accounts_of_customers_imported_before(engine, session, tmp_path):
    """``brokercare import accounts`` names owners by customer number: the command resolves them
    through the customers domain, and an owner not imported yet is a reason, not a crash."""

    run_import(engine, customers_spec(), _write_csv(tmp_path / "c.csv", HEADER, PEOPLE))
    header = ["account_no", "customer_no", "kind", "opened_on", "branch_code", "commission_rate",
              "cash_balance"]
    rows = [["100000000102", "800000000102", "普通账户", "2019-07-01", "310101", "0.0001", "8800"],
            ["100000000777", "800000000777", "普通账户", "2019-07-01", "310101", "0.0001", "10"]]
    path = _write_csv(tmp_path / "a.csv", header, rows)
    result = CliRunner().invoke(app, ["import", "accounts", str(path)])
    assert result.exit_code == 1 and "customer 800000000777 not found" in result.output
    result = CliRunner().invoke(app, ["import", "accounts", str(path), "--quarantine",
                                      str(tmp_path / "a_bad.csv")])
    assert result.exit_code == 0, result.output
    li = session.scalar(select(Customer).where(Customer.customer_no == "800000000102"))
    (account,) = session.scalars(select(Account).where(Account.customer_id == li.id)).all()
    assert (account.account_no, account.kind, account.cash_balance) == ("100000000102", "cash", Decimal("8800.00"))
