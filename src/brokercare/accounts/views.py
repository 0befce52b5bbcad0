"""Account endpoints under ``/api/v1``: a customer's accounts, an account's valued positions, its
margin status, bank–securities transfers with their reconciliation, and OTC fund orders. Holdings,
balances and transfers are class-3 data: staff read them only while a relationship with the
customer holds (:mod:`brokercare.security.access`), and every such read is ledgered."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from brokercare.accounts import (
    fund_settlement,
    funds,
    reconciliation,
    service,
    trade_events,
    transfers,
)
from brokercare.accounts.schemas import (
    AccountOut,
    FundOrderIn,
    FundOrderOut,
    InTransitOut,
    MarginStatusOut,
    PositionOut,
    ReconciliationItemOut,
    TransferIn,
    TransferOut,
)
from brokercare.advisory import service as advisory
from brokercare.core.bus import Event, get_bus
from brokercare.core.database import get_session, session_scope
from brokercare.core.errors import PermissionDenied, ValidationFailed
from brokercare.core.service import mark_processed
from brokercare.customers.service import get_customer
from brokercare.security.access import ReadLog, Reads, customer_reader
from brokercare.security.policy import Principal, current_user, require_roles

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
    _: ReadLog = Depends(customer_reader("balances")),
    session: Session = Depends(get_session),
) -> list[AccountOut]:
    get_customer(session, customer_id)
    accounts = service.accounts_of(session, customer_id)
    transit = fund_settlement.in_transit(session, [a.id for a in accounts])
    out = []
    for a in accounts:
        mine = [InTransitOut(order_no=t.order_no, fund_name=t.fund_name, amount=t.amount,
                             expected_on=t.expected_on, label=t.label) for t in transit if t.account_id == a.id]
        out.append(AccountOut(
            id=a.id, account_no=a.account_no, kind=a.kind,
            status=a.status, opened_on=a.opened_on, branch_code=a.branch_code, currency=a.currency,
            cash_balance=a.cash_balance, frozen_cash=a.frozen_cash, bank_name=a.bank_name,
            in_transit=sum((t.amount for t in mine), Decimal("0")), in_transit_items=mine,
            sh_holder_no=a.sh_holder_no, sz_holder_no=a.sz_holder_no))
    return out


@router.get("/accounts/{account_id}/positions", response_model=list[PositionOut],
            summary="Holdings valued at the reference price, with P&L against cost")
def account_positions(account_id: int, reads: Reads, session: Session = Depends(get_session)) -> list[PositionOut]:
    reads.allow(service.get_account(session, account_id).customer_id, f"positions:{account_id}")
    return [PositionOut.model_validate(p) for p in service.account_positions(session, account_id)]


@router.get("/accounts/{account_id}/margin", response_model=MarginStatusOut,
            summary="Maintenance collateral ratio (维持担保比例) and distance to each line")
def account_margin(account_id: int, reads: Reads, session: Session = Depends(get_session)) -> MarginStatusOut:
    reads.allow(service.get_account(session, account_id).customer_id, f"margin:{account_id}")
    status = service.margin_status(session, account_id)
    return MarginStatusOut(**status.__dict__, state_label=STATE_LABELS[status.state])


# --- bank–securities transfers (docs/transfers.md) ------------------------------------------------

back_office = require_roles("admin", "risk")


@router.post("/customers/{customer_id}/transfers", response_model=TransferOut, status_code=201,
             summary="Start a 银证转账 (the customer only); the same Idempotency-Key returns the first")
def start_transfer(
    customer_id: int,
    body: TransferIn,
    request: Request,
    response: Response,
    idempotency_key: str = Header(..., alias="Idempotency-Key", min_length=1, max_length=120),
    user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
) -> TransferOut:
    if user.role != "customer" or user.customer_id != customer_id:
        raise PermissionDenied("只有客户本人可以办理银证转账。")
    out = transfers.request_transfer(
        session, customer_id=customer_id, direction=body.direction, amount=body.amount,
        idempotency_key=idempotency_key, channel="app",
        ip=request.client.host if request.client else None,
        device_id=request.headers.get("x-device-id"))
    session.commit()
    if out.replayed:
        response.status_code = 200
    elif out.state == "requested":
        out = transfers.send_transfer(session, out.transfer_no)
        session.commit()
    return out


@router.get("/customers/{customer_id}/transfers", response_model=list[TransferOut],
            summary="A customer's transfers, newest first")
def customer_transfers(customer_id: int, limit: int = Query(20, ge=1, le=200),
                       _: ReadLog = Depends(customer_reader("transfers")),
                       session: Session = Depends(get_session)) -> list[TransferOut]:
    return transfers.transfers_of(session, customer_id, limit=limit)


@router.get("/customers/{customer_id}/transfers/{transfer_no}", response_model=TransferOut)
def customer_transfer(customer_id: int, transfer_no: str = Path(..., max_length=24),
                      _: ReadLog = Depends(customer_reader("transfers")),
                      session: Session = Depends(get_session)) -> TransferOut:
    return transfers.transfer_of(session, customer_id=customer_id, transfer_no=transfer_no)


@router.get("/transfers/differences", response_model=list[ReconciliationItemOut],
            summary="Open differences between the transfers and the banks' statements")
def reconciliation_differences(limit: int = Query(100, ge=1, le=1000),
                               _: Principal = Depends(back_office),
                               session: Session = Depends(get_session)) -> list[ReconciliationItemOut]:
    return reconciliation.open_items(session, limit=limit)


class Resolution(BaseModel):
    resolution: str = Field(min_length=1, max_length=2000)


@router.post("/transfers/differences/{item_id}/resolve", response_model=ReconciliationItemOut)
def resolve_difference(item_id: int, body: Resolution, user: Principal = Depends(back_office),
                       session: Session = Depends(get_session)) -> ReconciliationItemOut:
    out = reconciliation.resolve_item(session, item_id, actor_id=user.id, resolution=body.resolution)
    session.commit()
    return out


# --- OTC fund orders (docs/funds.md) -----------------------------------------------------------

def _the_customer(user: Principal, customer_id: int) -> None:
    if user.role != "customer" or user.customer_id != customer_id:
        raise PermissionDenied("只有客户本人可以办理基金申购和赎回。")


@router.post("/customers/{customer_id}/fund-orders", response_model=FundOrderOut, status_code=201,
             summary="Place a fund subscription (by amount) or redemption (by units); the customer only",
             responses={409: {"description": "A suitability warning to confirm (risk_confirmed), "
                                             "or the key already used for another order"}})
def place_fund_order(
    customer_id: int,
    body: FundOrderIn,
    response: Response,
    idempotency_key: str = Header(..., alias="Idempotency-Key", min_length=1, max_length=120),
    user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
) -> FundOrderOut:
    _the_customer(user, customer_id)
    if body.kind == "subscribe":
        if body.amount is None or body.units is not None:
            raise ValidationFailed("申购请填写金额（元），不要填写份额")
        out = funds.place_subscription(
            session, customer_id=customer_id, symbol=body.symbol, amount=body.amount,
            idempotency_key=idempotency_key, suitability=advisory, risk_confirmed=body.risk_confirmed)
    else:
        if body.units is None or body.amount is not None:
            raise ValidationFailed("赎回请填写份额，不要填写金额")
        out = funds.place_redemption(session, customer_id=customer_id, symbol=body.symbol,
                                     units=body.units, idempotency_key=idempotency_key)
    session.commit()
    if out.replayed:
        response.status_code = 200
    return out


@router.get("/customers/{customer_id}/fund-orders", response_model=list[FundOrderOut],
            summary="A customer's fund orders, newest first")
def customer_fund_orders(customer_id: int, limit: int = Query(20, ge=1, le=200),
                         _: ReadLog = Depends(customer_reader("fund orders")),
                         session: Session = Depends(get_session)) -> list[FundOrderOut]:
    return funds.fund_orders_of(session, customer_id, limit=limit)


@router.post("/customers/{customer_id}/fund-orders/{order_no}/cancel", response_model=FundOrderOut,
             summary="Cancel a fund order before its NAV day's 15:00 cut-off; the customer only")
def cancel_fund_order(customer_id: int, order_no: str = Path(..., max_length=24),
                      user: Principal = Depends(current_user),
                      session: Session = Depends(get_session)) -> FundOrderOut:
    _the_customer(user, customer_id)
    out = funds.cancel_order(session, customer_id=customer_id, order_no=order_no)
    session.commit()
    return out


def _on_hold_decided(event: Event) -> None:
    """The risk desk released or rejected a held transfer out: send it now, or unfreeze it."""
    released = event.type == "risk.hold_released"
    with session_scope() as session:
        if not mark_processed(session, "accounts.transfers", event.id):
            return
        out = transfers.on_risk_decision(session, measure_id=int(event.payload["measure_id"]),
                                         released=released)
        session.commit()
        if out is not None and out.state == "requested":
            transfers.send_transfer(session, out.transfer_no)
            session.commit()


def _booking(consumer: str, book) -> Callable[[Event], None]:
    """A handler that books what the trading system reported (``POST /api/v1/events``) once per
    event id: ``book(session, event)`` writes it (trades into the trade book, orders into the
    order book)."""
    def handle(event: Event) -> None:
        if event.customer_id is None:
            return
        with session_scope() as session:
            if not mark_processed(session, consumer, event.id):
                return
            book(session, event)
            session.commit()
    return handle


_on_trade_executed = _booking("accounts.trades", lambda session, e: trade_events.record_trade(
    session, event_id=e.id, customer_id=int(e.customer_id), payload=e.payload, traded_at=e.occurred_at))
_on_order_placed = _booking("accounts.orders", lambda session, e: trade_events.record_order(
    session, event_id=e.id, customer_id=int(e.customer_id), payload=e.payload, placed_at=e.occurred_at))


def startup() -> None:
    bus = get_bus()
    for name in ("risk.hold_released", "risk.hold_rejected"):
        bus.subscribe(name, _on_hold_decided, group="accounts.transfers")
    bus.subscribe("trade.executed", _on_trade_executed, group="accounts.trades")
    bus.subscribe("order.placed", _on_order_placed, group="accounts.orders")
