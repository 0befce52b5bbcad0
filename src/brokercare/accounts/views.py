"""Account endpoints under ``/api/v1``: a customer's accounts, an account's valued positions and
its margin status. Holdings and balances are class-3 data: roles not cleared for it get 403 (or
must ask with ``reveal=true`` where their role allows, which is audited)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.accounts import service
from brokercare.accounts.schemas import AccountOut, MarginStatusOut, PositionOut
from brokercare.core.database import get_session
from brokercare.customers.access import ensure_may_see, readable, require_readable
from brokercare.customers.service import get_customer
from brokercare.security.masking import mask_bank_card
from brokercare.security.models import User
from brokercare.security.policy import current_user, data_class_of

router = APIRouter(tags=["accounts"])

STATE_LABELS = {
    "no_debt": "无负债",
    "above_withdrawal": "高于可提取线",
    "normal": "正常",
    "below_warning": "低于警戒线，请及时追加担保物",
    "below_liquidation": "低于平仓线，面临强制平仓",
}


def _audit_reveal(session: Session, user: User, customer_id: int, what: str) -> None:
    """A class-3 resource read whole on request by a role that must ask goes to the ledger."""
    if user.role == "customer" or readable(user, customer_id, 3):
        return
    from brokercare.ledger.service import append

    append(session, "pii.read", f"customer:{customer_id}",
           {"user_id": user.id, "role": user.role, "customer_id": customer_id, "fields": [what],
            "revealed_on_request": True, "reason": "revealed on request"})
    session.commit()


@router.get("/customers/{customer_id}/accounts", response_model=list[AccountOut],
            summary="A customer's capital accounts")
def customer_accounts(
    customer_id: int,
    user: User = Depends(current_user),
    session: Session = Depends(get_session),
) -> list[AccountOut]:
    ensure_may_see(user, customer_id)
    money_ok = readable(user, customer_id, data_class_of("cash_balance"))
    no_ok = readable(user, customer_id, data_class_of("account_no"))
    return [
        AccountOut(
            id=a.id, account_no=a.account_no if no_ok else mask_bank_card(a.account_no), kind=a.kind,
            status=a.status, opened_on=a.opened_on, branch_code=a.branch_code, currency=a.currency,
            cash_balance=a.cash_balance if money_ok else None,
            frozen_cash=a.frozen_cash if money_ok else None, bank_name=a.bank_name,
        )
        for a in service.accounts_of(session, customer_id)
    ]


@router.get("/accounts/{account_id}/positions", response_model=list[PositionOut],
            summary="Holdings valued at the reference price, with P&L against cost")
def account_positions(
    account_id: int,
    reveal: bool = Query(False, description="Roles that must ask for class-3 data set this (audited)."),
    user: User = Depends(current_user),
    session: Session = Depends(get_session),
) -> list[PositionOut]:
    account = service.get_account(session, account_id)
    require_readable(user, account.customer_id, data_class_of("positions"), "持仓明细", reveal=reveal)
    positions = service.account_positions(session, account_id)
    if reveal:
        _audit_reveal(session, user, account.customer_id, f"positions:{account_id}")
    return [PositionOut.model_validate(p) for p in positions]


@router.get("/accounts/{account_id}/margin", response_model=MarginStatusOut,
            summary="Maintenance collateral ratio (维持担保比例) and distance to each line")
def account_margin(
    account_id: int,
    reveal: bool = Query(False, description="Roles that must ask for class-3 data set this (audited)."),
    user: User = Depends(current_user),
    session: Session = Depends(get_session),
) -> MarginStatusOut:
    account = service.get_account(session, account_id)
    require_readable(user, account.customer_id, data_class_of("maintenance_ratio"), "两融负债与担保比例",
                     reveal=reveal)
    get_customer(session, account.customer_id)
    status = service.margin_status(session, account_id)
    if reveal:
        _audit_reveal(session, user, account.customer_id, f"margin:{account_id}")
    return MarginStatusOut(**status.__dict__, state_label=STATE_LABELS[status.state])
