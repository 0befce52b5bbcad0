"""What the account, position and margin endpoints return (money as exact decimals)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InTransitOut(BaseModel):
    """A fund redemption's proceeds on their way to the account (在途资金)."""

    order_no: str
    fund_name: str
    amount: Decimal
    expected_on: date  # the trading day they arrive
    label: str  # what the customer reads, e.g. "在途资金：赎回… 预计 2 月 26 日到账"


class AccountOut(BaseModel):
    id: int
    account_no: str
    kind: str
    status: str
    opened_on: date
    branch_code: str
    currency: str
    cash_balance: Decimal | None
    frozen_cash: Decimal | None
    bank_name: str | None
    # 在途资金: confirmed fund redemptions not yet credited; neither spendable nor transferable
    in_transit: Decimal = Decimal("0")
    in_transit_items: list[InTransitOut] = Field(default_factory=list)
    sh_holder_no: str | None = None  # 上海证券账户 (中国结算), issued at opening
    sz_holder_no: str | None = None  # 深圳证券账户


class PositionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    account_id: int
    symbol: str
    name: str
    kind: str
    board: str
    risk_rating: str | None
    quantity: Decimal
    available_quantity: Decimal
    cost_price: Decimal
    last_price: Decimal
    priced_at_cost: bool
    price_at: datetime | None = None  # the price's as-of time (None: a reference price)
    price_stale: bool = False  # older than the market could have produced
    market_value: Decimal
    cost_value: Decimal
    pnl: Decimal
    pnl_pct: Decimal | None
    opened_on: date | None


class ShortPositionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    symbol: str
    name: str
    quantity: Decimal
    last_price: Decimal | None
    market_value: Decimal | None


class MarginStatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    account_id: int
    contract_no: str
    cash: Decimal
    market_value: Decimal
    total_assets: Decimal
    financing_debt: Decimal
    lending_debt: Decimal
    lending_repriced: bool
    shorts: list[ShortPositionOut]
    interest_due: Decimal
    total_liabilities: Decimal
    maintenance_ratio: Decimal | None
    warning_line: Decimal
    liquidation_line: Decimal
    withdrawal_line: Decimal
    to_warning: Decimal | None
    to_liquidation: Decimal | None
    to_withdrawal: Decimal | None
    state: str
    state_label: str
    top_up_to_warning: Decimal
    withdrawable: Decimal
    topup_days: int
    credit_limit: Decimal
    credit_available: Decimal


class TransferIn(BaseModel):
    """A 银证转账 the customer asks for: ``in`` bank → securities account, ``out`` the reverse."""

    direction: Literal["in", "out"]
    amount: Decimal = Field(gt=0, max_digits=16, decimal_places=2)


class TransferOut(BaseModel):
    transfer_no: str
    direction: str
    amount: Decimal
    state: str  # requested, held, sent, confirmed, failed, rejected, reversed
    state_label: str
    bank_name: str | None
    card_tail: str | None
    business_day: date
    reason: str | None  # why it waits or did not succeed, in Chinese
    requested_at: datetime
    settled_at: datetime | None
    replayed: bool = False  # the same request key again: this is the first request's transfer


class ReconciliationItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    bank_name: str
    business_day: date
    kind: str
    reference: str
    ours: Decimal | None
    bank: Decimal | None
    detail: str
    status: str


class ReconciliationOut(BaseModel):
    bank_name: str
    business_day: date
    statement_rows: int
    matched: int
    settled: int  # transfers whose answer never came, settled by the statement
    differences: list[ReconciliationItemOut]


class FundOrderIn(BaseModel):
    """A 场外基金 order: ``subscribe`` by ``amount`` (元), ``redeem`` by ``units`` (份).
    ``risk_confirmed``: the customer read the suitability warning and still wants to buy."""

    kind: Literal["subscribe", "redeem"]
    symbol: str = Field(min_length=6, max_length=16, description="6-digit fund code or 000051.OF")
    amount: Decimal | None = Field(None, gt=0, max_digits=16, decimal_places=2)
    units: Decimal | None = Field(None, gt=0, max_digits=16, decimal_places=2)
    risk_confirmed: bool = False


class FundOrderOut(BaseModel):
    order_no: str
    kind: str  # subscribe, redeem
    kind_label: str
    symbol: str
    fund_name: str
    amount: Decimal | None  # subscribe: the amount asked
    units: Decimal | None  # redeem: the units asked; subscribe: the units confirmed
    state: str  # proposed, placed, confirmed, cancelled, expired
    state_label: str
    nav_day: date  # the trading day whose NAV prices the order (the 15:00 cut-off)
    confirm_day: date  # T+1: when the fund company confirms it
    settle_day: date | None = None  # redeem: when the proceeds reach the account (T+n by fund type)
    settled_at: datetime | None = None  # redeem: when they did; until then they are 在途资金
    cancellable_until: datetime | None
    nav: Decimal | None
    fee: Decimal | None  # subscribe: known when placed; redeem: on confirmation
    proceeds: Decimal | None  # redeem: units × NAV − fee
    suitability: str | None
    reason: str | None
    placed_at: datetime
    confirmed_at: datetime | None
    replayed: bool = False  # the same request key again: this is the first request's order
    warning: str | None = None  # a proposal's suitability warning the customer must read
