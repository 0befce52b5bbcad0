"""银证转账 as operations staff check it: a retried request moves money once, a bank timeout
followed by a late success is reconciled and not doubled, today's sale proceeds leave only from
T+1, the banks' hours and the exchange calendar hold, and a frozen account cannot send money out
but its owner can still log in and read why."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.accounts.fake_bank import FakeBank
from tests.monitoring.brokerage import add_account, add_customer, add_instruments

from brokercare.accounts import reconciliation, transfers
from brokercare.accounts.banks import HttpBank
from brokercare.accounts.models import Account, CashMovement, Trade
from brokercare.api import create_app
from brokercare.core.errors import ValidationFailed
from brokercare.core.settings import reset_settings
from brokercare.risk import cases
from brokercare.security import auth
from brokercare.security.service import create_user, get_cipher

PASSWORD = "Passw0rd2026"
TUESDAY_10AM = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)  # 10:00 Beijing, a trading day
DAY = date(2026, 6, 16)


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def bank(monkeypatch):
    b = FakeBank()
    monkeypatch.setenv("BROKERCARE_BANK_URL", b.url)
    monkeypatch.setenv("BROKERCARE_BANK_TIMEOUT_S", "1")
    reset_settings()
    yield b
    b.close()


@pytest.fixture
def wang(session):
    """王建国: 50,000 元 in his cash account, linked to an ICBC card."""
    add_instruments(session)
    c = add_customer(session, 1)
    account = add_account(session, c, cash="50000")
    account.bank_name = "工商银行"
    account.bank_card_enc = get_cipher(session).encrypt("6222021001123456789")
    session.commit()
    return c.id, account.id


def request(session, customer_id, direction, amount, key, now=TUESDAY_10AM):
    out = transfers.request_transfer(session, customer_id=customer_id, direction=direction,
                                     amount=amount, idempotency_key=key, now=now)
    session.commit()
    return out


def balance(session, account_id) -> tuple[Decimal, Decimal]:
    session.expire_all()
    a = session.get(Account, account_id)
    return a.cash_balance, a.frozen_cash


def test_a_retried_transfer_moves_money_once(session, bank, wang):
    cid, acc = wang
    first = request(session, cid, "in", "30000", "app-7f3a")
    sent = transfers.send_transfer(session, first.transfer_no)
    session.commit()
    again = request(session, cid, "in", "30000", "app-7f3a")  # the app retried after a timeout
    assert sent.state == "confirmed" and again.replayed and again.transfer_no == first.transfer_no
    assert transfers.send_transfer(session, again.transfer_no).state == "confirmed"  # nothing to send
    assert balance(session, acc) == (Decimal("80000.00"), Decimal("0.00"))
    assert bank.requests[first.transfer_no] == 1
    assert session.scalar(select(func.count()).select_from(CashMovement)) == 1
    with pytest.raises(Exception, match="另一笔转账"):
        request(session, cid, "in", "31000", "app-7f3a")  # the same key for something else


def test_a_bank_timeout_then_late_success_is_reconciled_not_doubled(session, bank, wang, tmp_path):
    cid, acc = wang
    bank.script = ["late"]
    t = request(session, cid, "out", "20000", "app-91c0")
    assert balance(session, acc) == (Decimal("50000.00"), Decimal("20000.00"))  # frozen, not spent
    answer = transfers.send_transfer(session, t.transfer_no, bank=HttpBank(bank.url, timeout=1))
    session.commit()
    assert answer.state == "sent" and "未及时应答" in answer.reason
    assert balance(session, acc) == (Decimal("50000.00"), Decimal("20000.00"))

    statement = tmp_path / "工商银行_20260616.csv"
    statement.write_text("transfer_no,bank_ref,direction,amount,status\n"
                         f"{t.transfer_no},B00000001,out,20000.00,success\n"
                         ",B00000777,in,1500.00,success\n", "utf-8")
    result = reconciliation.reconcile(session, bank_name="工商银行", day=DAY,
                                      rows=reconciliation.read_statement(statement))
    session.commit()
    assert (result.settled, result.matched) == (1, 0)
    assert [d.kind for d in result.differences] == ["missing_here"]
    assert "1500" in result.differences[0].detail
    assert balance(session, acc) == (Decimal("30000.00"), Decimal("0.00"))

    # the follow-up job and a second run of the same statement change nothing
    transfers.follow_up(session, now=datetime(2026, 6, 16, 3, 0, tzinfo=UTC))
    again = reconciliation.reconcile(session, bank_name="工商银行", day=DAY,
                                     rows=reconciliation.read_statement(statement))
    session.commit()
    assert (again.matched, again.settled) == (1, 0) and len(again.differences) == 1
    assert balance(session, acc) == (Decimal("30000.00"), Decimal("0.00"))
    assert session.scalar(select(func.count()).select_from(CashMovement)) == 1
    assert bank.requests[t.transfer_no] == 1
    assert len(reconciliation.open_items(session)) == 1


def test_transfers_the_bank_reversed_are_reversed_here_or_go_to_operations(session, bank, wang, tmp_path):
    """工商银行's statement reverses (冲正) two of 王建国's transfers: a 20,000 out whose answer never
    came becomes 已冲正 with the frozen money released; a 5,000 in already confirmed and credited is
    not undone by the platform (he may have spent it) but is an item for operations."""
    cid, acc = wang
    bank.script = ["late"]
    out = request(session, cid, "out", "20000", "app-out")
    transfers.send_transfer(session, out.transfer_no, bank=HttpBank(bank.url, timeout=1))
    session.commit()
    into = request(session, cid, "in", "5000", "app-in")
    transfers.send_transfer(session, into.transfer_no)
    session.commit()
    assert balance(session, acc) == (Decimal("55000.00"), Decimal("20000.00"))
    statement = tmp_path / "工商银行_20260616.csv"
    statement.write_text("transfer_no,bank_ref,direction,amount,status\n"
                         f"{out.transfer_no},B00000101,out,20000.00,reversed\n"
                         f"{into.transfer_no},B00000102,in,5000.00,reversed\n", "utf-8")
    for _ in range(2):  # the same file twice changes nothing more
        result = reconciliation.reconcile(session, bank_name="工商银行", day=DAY,
                                          rows=reconciliation.read_statement(statement))
        session.commit()
    assert transfers.transfer_of(session, customer_id=cid, transfer_no=out.transfer_no).state_label == "已冲正"
    assert balance(session, acc) == (Decimal("55000.00"), Decimal("0.00"))
    [item] = result.differences
    assert (item.kind, item.reference) == ("reversed_at_bank", into.transfer_no)
    assert "银行已冲正平台已确认的转入 5000.00 元" in item.detail


def test_a_bank_that_refuses_unfreezes_the_money(session, bank, wang):
    cid, acc = wang
    bank.script = ["reject"]
    t = request(session, cid, "out", "10000", "app-0001")
    out = transfers.send_transfer(session, t.transfer_no)
    session.commit()
    assert out.state == "failed" and out.reason == "银行卡余额不足"
    assert balance(session, acc) == (Decimal("50000.00"), Decimal("0.00"))


def test_a_statement_with_a_bad_row_reconciles_nothing(session, bank, wang, tmp_path):
    statement = tmp_path / "工商银行_20260616.csv"
    statement.write_text("transfer_no,bank_ref,direction,amount,status\n"
                         "TR1,B1,out,2000,success\nTR2,B2,sideways,100,success\n", "utf-8")
    with pytest.raises(ValidationFailed, match="row 3: direction 'sideways'"):
        reconciliation.read_statement(statement)


def test_todays_sale_proceeds_leave_only_from_the_next_trading_day(session, bank, wang):
    cid, acc = wang
    session.add(Trade(trade_no="T20260616001", account_id=acc, symbol="600519.SH", side="sell",
                      price=Decimal("1500"), quantity=Decimal("20"), amount=Decimal("30000"),
                      commission=Decimal("7.5"), stamp_duty=Decimal("15"), transfer_fee=Decimal("0.3"),
                      traded_at=datetime(2026, 6, 16, 1, 45, tzinfo=UTC)))
    session.commit()
    with pytest.raises(ValidationFailed) as refused:
        request(session, cid, "out", "40000", "app-a1")
    assert "可转出资金为2.00万元" in refused.value.detail.replace(" ", "")
    assert "今日卖出所得" in refused.value.detail
    tomorrow = datetime(2026, 6, 17, 2, 0, tzinfo=UTC)
    assert request(session, cid, "out", "40000", "app-a2", now=tomorrow).state == "requested"


@pytest.mark.parametrize("moment, says", [
    (datetime(2026, 6, 16, 8, 30, tzinfo=UTC), "请于 6 月 17 日 09:00 后再试"),  # 16:30 Tuesday
    (datetime(2026, 2, 17, 2, 0, tzinfo=UTC), "请于 2 月 24 日 09:00 后再试"),  # Spring Festival
    (datetime(2026, 6, 16, 0, 30, tzinfo=UTC), "请于 6 月 16 日 09:00 后再试"),  # 08:30, too early
])
def test_outside_the_banks_hours_the_customer_is_told_when(session, bank, wang, moment, says):
    cid, _ = wang
    with pytest.raises(ValidationFailed) as refused:
        request(session, cid, "in", "1000", f"k-{moment:%m%d%H%M}", now=moment)
    assert "工商银行银证转账的服务时间为交易日 09:00–16:00" in refused.value.detail
    assert says in refused.value.detail


def test_a_frozen_account_cannot_transfer_out_but_can_log_in_and_read_why(
        session, engine, bank, wang, monkeypatch):
    cid, acc = wang
    create_user(session, username="wangjg", password=PASSWORD, role="customer",
                display_name="王建国", customer_id=cid)
    desk = create_user(session, username="risk01", password=PASSWORD, role="risk", display_name="风控")
    cases.freeze(session, cid, actor_id=desk.id, reason="异地登录后大额转出，已电话核实未果")
    session.commit()
    monkeypatch.setattr(transfers, "utcnow", lambda: TUESDAY_10AM)
    with TestClient(create_app()) as client:
        token = client.post("/api/v1/auth/token", data={"username": "wangjg", "password": PASSWORD})
        assert token.status_code == 200  # logging in still works
        me = {"Authorization": f"Bearer {token.json()['access_token']}", "Idempotency-Key": "k-1"}
        out = client.post(f"/api/v1/customers/{cid}/transfers", json={"direction": "out",
                                                                       "amount": "5000"}, headers=me)
        assert out.status_code == 403 and "已暂停您账户的转出" in out.json()["detail"]
        money_in = client.post(f"/api/v1/customers/{cid}/transfers",
                               json={"direction": "in", "amount": "5000"},
                               headers={**me, "Idempotency-Key": "k-2"})
        assert money_in.status_code == 201 and money_in.json()["state"] == "confirmed"
        status = client.get(f"/api/v1/risk/customers/{cid}/status", headers=me)
    assert balance(session, acc) == (Decimal("55000.00"), Decimal("0.00"))
    assert status.status_code == 200 and status.json()["frozen"]
    assert not status.json()["may_transfer_out"] and "异地登录后大额转出" in status.json()["message"]
