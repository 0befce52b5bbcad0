"""The shareholder accounts applied for at the end of an opening (中国结算 一码通, 上海 and 深圳 A股
证券账户), as the account-opening back office checks them, on SQLite and PostgreSQL: issued with
the capital account and shown to the customer; the same person gets the same 一码通 again; and
when 中国结算 refuses or is unreachable nothing is opened, the application waits in the review
queue with why (never a 500), and the reviewer's approval once it answers opens the account."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from tests.onboarding.applicants import PASSWORD, Applicant, card, through_bank, wang
from tests.onboarding.test_api import go_through

from brokercare.accounts.service import accounts_of
from brokercare.api import create_app
from brokercare.core.errors import Conflict
from brokercare.onboarding import csdc
from brokercare.onboarding import service as opening
from brokercare.security.service import create_user


class Unreachable:
    """中国结算's account system timing out, as a broker's adapter raises it."""

    def apply(self, request):
        raise TimeoutError("CSDC gateway did not answer in 10 s")


class ThreeAccountsAlready:
    def apply(self, request):
        raise csdc.Refused("该投资者在上海市场已开立 3 个 A 股证券账户，不能再开立")


def test_a_clean_opening_issues_the_shareholder_accounts_with_the_capital_account(session):
    app = through_bank(session, wang())
    opening.submit(session, app)
    session.commit()
    account = accounts_of(session, app.customer_id)[0]
    assert app.state == "opened"
    assert re.fullmatch(r"18\d{10}", app.one_code_no)
    assert re.fullmatch(r"A\d{9}", app.sh_holder_no) and re.fullmatch(r"0\d{9}", app.sz_holder_no)
    assert (account.one_code_no, account.sh_holder_no, account.sz_holder_no) == (
        app.one_code_no, app.sh_holder_no, app.sz_holder_no)
    s = opening.standing(app)
    assert (s.sh_holder_no, s.sz_holder_no) == (app.sh_holder_no, app.sz_holder_no)


def test_the_fake_gives_one_person_one_code_and_is_idempotent():
    a, b = wang(), Applicant("李娜", "13800138000", date(1988, 6, 1), region="110105", sequence="262")
    fake = csdc.LocalFakeRegistry()
    first = fake.apply(csdc.HolderRequest("KH20261205000001", a.name, a.id_number, "0001"))
    again = fake.apply(csdc.HolderRequest("KH20261205000009", a.name, a.id_number, "0001"))
    other = fake.apply(csdc.HolderRequest("KH20261205000002", b.name, b.id_number, "0001"))
    assert first == again and other.one_code != first.one_code and other.sh != first.sh


@pytest.mark.parametrize(("adapter", "why"), [
    (Unreachable, "中国结算账户系统暂时无法办理"),
    (ThreeAccountsAlready, "已开立 3 个 A 股证券账户"),
])
def test_a_csdc_failure_sends_the_opening_to_review_and_opens_nothing(session, monkeypatch, adapter, why):
    monkeypatch.setattr(csdc, "shareholder_registry", adapter)
    a = Applicant("赵磊", "13600001111", date(1990, 11, 20), region="320106", sequence="015",
                  address="江苏省南京市鼓楼区中山北路30号", card_no=card("622848", 19), bank="农业银行")
    app = through_bank(session, a)
    opening.submit(session, app)
    session.commit()
    assert app.state == "in_review" and app.account_no is None and app.sh_holder_no is None
    assert accounts_of(session, app.customer_id) == []
    [item] = opening.review_queue(session)
    [reason] = item.reasons
    assert reason["code"] == "csdc_failed" and why in reason["text"]

    staff = create_user(session, username="kaihu03", password="Hegui-2026!", role="compliance", display_name="开户审核")
    session.commit()
    with pytest.raises(Conflict, match="申请仍在审核队列中"):
        opening.approve(session, app.application_no, reviewer_id=staff.id, note="已核实")
    session.rollback()
    assert accounts_of(session, app.customer_id) == []

    monkeypatch.setattr(csdc, "shareholder_registry", csdc.LocalFakeRegistry)  # 中国结算 answers again
    opened = opening.approve(session, app.application_no, reviewer_id=staff.id, note="中国结算已恢复，重新申请")
    session.commit()
    assert opened.state == "opened" and accounts_of(session, app.customer_id)[0].sh_holder_no == opened.sh_holder_no


def test_the_customer_sees_the_accounts_and_a_failure_is_not_a_500(engine, monkeypatch):
    with TestClient(create_app()) as client:
        _, done = go_through(client, wang())
        token = client.post("/api/v1/auth/token", data={"username": wang().phone, "password": PASSWORD})
        me = {"Authorization": f"Bearer {token.json()['access_token']}"}
        customer_id = client.get("/api/v1/auth/me", headers=me).json().get("customer_id")
        accounts = client.get(f"/api/v1/customers/{customer_id}/accounts", headers=me).json()
        monkeypatch.setattr(csdc, "shareholder_registry", Unreachable)
        _, waiting = go_through(client, Applicant("孙悦", "13500009999", date(1985, 2, 14), region="330106",
                                                  sequence="046", address="浙江省杭州市西湖区文三路90号"))
    assert done["state"] == "opened" and re.fullmatch(r"A\d{9}", done["sh_holder_no"])
    assert (accounts[0]["sh_holder_no"], accounts[0]["sz_holder_no"]) == (done["sh_holder_no"], done["sz_holder_no"])
    assert waiting["state"] == "in_review" and waiting["sh_holder_no"] is None
