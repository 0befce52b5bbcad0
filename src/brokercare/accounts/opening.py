"""Issuing a new customer's capital account at the end of an online opening: the account number,
the custody bank card bound to it, and the ``account.opened`` event once the caller commits.

The checks of the journey (identity, questionnaire, agreements, Luhn and BIN) are the onboarding
domain's; this is the one place an account comes into being outside a bulk import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.banks import check_card
from brokercare.accounts.events import ACCOUNT_OPENED
from brokercare.accounts.models import Account
from brokercare.core.after_commit import publish_after_commit
from brokercare.core.bus import Event
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, ValidationFailed
from brokercare.security.service import blind_index, get_cipher


@dataclass(frozen=True)
class HolderNumbers:
    """The investor's 中国结算 accounts: 一码通, and the Shanghai and Shenzhen securities accounts."""

    one_code: str
    sh: str
    sz: str


#: Capital account numbers: ``10`` (cash) + 10 digits of the row id, as the demo brokerage and a
#: broker's import number them, so numbers issued online never collide with imported ones.
PREFIX = {"cash": "10", "margin": "20"}


def account_number(kind: str, account_id: int) -> str:
    return f"{PREFIX[kind]}{account_id:010d}"


def open_cash_account(session: Session, *, customer_id: int, branch_code: str, card_no: str,
                      commission_rate: Decimal, application_no: str | None = None,
                      holder: HolderNumbers | None = None) -> Account:
    """Issue the customer's 普通资金账号 bound to ``card_no`` (Luhn-checked; its bank from the BIN
    table), with the shareholder accounts 中国结算 issued (``holder``). One cash account per
    customer: a second call raises :class:`Conflict`. Writes in the caller's transaction;
    ``account.opened`` is published when it commits."""
    check = check_card(card_no)
    if not check.luhn_ok:
        raise ValidationFailed("银行卡号校验未通过，请核对卡号。")
    if session.scalar(select(Account.id).where(Account.customer_id == customer_id, Account.kind == "cash")):
        raise Conflict(f"customer {customer_id} already has a cash account")
    issuer = check.issuer
    now = utcnow()
    opened_on: date = now.astimezone(SHANGHAI).date()
    account = Account(account_no=f"P{customer_id}", customer_id=customer_id, kind="cash", status="active",
                      opened_on=opened_on, branch_code=branch_code, commission_rate=commission_rate,
                      cash_balance=Decimal("0"), frozen_cash=Decimal("0"),
                      bank_name=issuer.short_name if issuer else None,
                      bank_card_enc=get_cipher(session).encrypt(check.number),
                      bank_card_hash=blind_index(check.number),
                      one_code_no=holder.one_code if holder else None, sh_holder_no=holder.sh if holder else None,
                      sz_holder_no=holder.sz if holder else None)
    with session.begin_nested():
        session.add(account)
        session.flush()
        account.account_no = account_number("cash", account.id)
        session.flush()
    publish_after_commit(session, Event(ACCOUNT_OPENED, {
        "customer_id": customer_id, "account_id": account.id, "account_no": account.account_no, "kind": "cash",
        "branch_code": branch_code, "bank_name": account.bank_name, "opened_on": opened_on.isoformat(), "opened_at": now.isoformat(),
        "application_no": application_no}, customer_id=customer_id))
    return account
