"""Events the accounts domain publishes for others: ``account.opened`` when an account number is
issued (engagement's welcome benefits and beginner's guide react to it)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from brokercare.core.bus import register_event_type

ACCOUNT_OPENED = "account.opened"


class AccountOpened(BaseModel):
    """Payload of ``account.opened``: the account issued and when (aware UTC)."""

    customer_id: int
    account_id: int
    account_no: str
    kind: str
    branch_code: str
    bank_name: str | None = None
    opened_on: date
    opened_at: datetime
    application_no: str | None = None


register_event_type(ACCOUNT_OPENED, AccountOpened)
