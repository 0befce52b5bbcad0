"""Account endpoints under ``/api/v1``: a customer's accounts, an account's valued positions and
its margin status. Holdings and balances are class-3 data: roles not cleared for it get 403 (or
must ask with ``reveal=true`` where their role allows, which is audited)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.accounts import service
from brokercare.accounts.schemas import AccountOut, MarginStatusOut, PositionOut
from brokercare.core.database import get_session
from brokercare.customers.service import get_customer
from brokercare.security.policy import (
    Principal,
    current_user,
    data_class_of,
    ensure_may_see,
    readable,
)
from brokercare.security.service import mask_bank_card

router = APIRouter(tags=["accounts"])

STATE_LABELS = {
    "no_debt": "无负债",
    "above_withdrawal": "高于可提取线",
    "normal": "正常",
    "below_warning": "低于警戒线，请及时追加担保物",
    "below_liquidation": "低于平仓线，面临强制平仓",
}


@router.get("/customers/{customer_id}/accounts", response_model=list[AccountOut],
            summary="A customer's capital accounts")
def customer_accounts(
    customer_id: int,
    user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
) -> list[AccountOut]:
    ensure_may_see(user, customer_id)
    get_customer(session, customer_id)
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
    user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
) -> list[PositionOut]:
    positions = service.positions_read_by(session, user, account_id, reveal=reveal)
    return [PositionOut.model_validate(p) for p in positions]


@router.get("/accounts/{account_id}/margin", response_model=MarginStatusOut,
            summary="Maintenance collateral ratio (维持担保比例) and distance to each line")
def account_margin(
    account_id: int,
    reveal: bool = Query(False, description="Roles that must ask for class-3 data set this (audited)."),
    user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
) -> MarginStatusOut:
    status = service.margin_status_read_by(session, user, account_id, reveal=reveal)
    return MarginStatusOut(**status.__dict__, state_label=STATE_LABELS[status.state])
