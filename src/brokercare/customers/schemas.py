"""What the customer and profile endpoints return."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field


class CustomerSummary(BaseModel):
    id: int
    customer_no: str
    name: str = Field(description="Masked (张**) for roles not cleared for class 3.")
    gender: str
    city: str
    branch_code: str
    status: str
    risk_level: str | None
    opened_on: date


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    total: int
    limit: int
    offset: int


class CustomerDetail(CustomerSummary):
    province: str
    occupation: str
    investor_type: str
    manager_id: int | None
    birth_date: date | None = Field(None, description="Class 3: null when withheld.")
    education: str | None = None
    annual_income: Decimal | None = None
    marital_status: str | None = None
    pii: dict[str, Any] = Field(description="Name, ID number, phone, address and bank cards as the "
                                            "caller's role may see them (customers.service.customer_pii).")
    withheld: list[str] = Field(default_factory=list)


class BankCard(BaseModel):
    account_id: int
    account_no: str
    bank_name: str | None = None
    card: str | None = None


class CustomerPII(BaseModel):
    customer_id: int
    customer_no: str
    name: str | None
    id_number: str | None
    phone: str | None
    address: str | None
    bank_cards: list[BankCard]
    masked_fields: list[str]
    data_classes: dict[str, int]


class TagOut(BaseModel):
    key: str
    label: str
    description: str


class ProfileOut(BaseModel):
    customer_id: int
    customer_no: str
    tier: str
    tier_label: str
    high_net_worth: bool
    aum: Decimal | None = Field(description="Net assets in 元 (class 3: null when withheld).")
    life_stage: str | None
    tags: list[TagOut]
    features: dict[str, Any] = Field(description="Every registry feature the role is cleared for.")
    withheld_features: list[str] = Field(
        description="Features of a data class the caller's role may not read (see /profiles/features).")
    computed_at: datetime | None
    stored: bool = Field(description="False when no stored profile existed and it was computed now.")
    pii: dict[str, Any]


class TierChangeOut(BaseModel):
    from_tier: str | None
    to_tier: str
    aum: Decimal | None
    changed_at: datetime
    reason: str


class FeatureOut(BaseModel):
    name: str
    label: str
    type: str
    source: str
    cadence: str
    data_class: int
    group: str
    description: str
