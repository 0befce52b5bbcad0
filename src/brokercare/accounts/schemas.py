"""What the account, position and margin endpoints return (money as exact decimals)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


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
