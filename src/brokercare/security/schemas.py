"""What the security API accepts and returns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: str
    role_label: str
    customer_id: int | None = None
    branch_code: str | None = None
    skills: list[str] = []
    active: bool


class ClearanceRow(BaseModel):
    role: str
    label: str
    class_1: str
    class_2: str
    class_3: str
    class_4: str


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


class KeyStatus(BaseModel):
    key_id: str
    status: str
    values: int
