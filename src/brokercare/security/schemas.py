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


class KeyStatus(BaseModel):
    key_id: str
    status: str
    values: int
