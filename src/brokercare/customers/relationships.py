"""The customer relationships this domain records, for the security policy's access decisions
(:mod:`brokercare.security.access` discovers ``PROVIDERS``): the dedicated manager and the
assigned advisor of a customer. Each check is one primary-key read."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.customers.models import Customer
from brokercare.security.access import ADVISOR, MANAGER, Provider


def _managed(session: Session, staff_id: int, customer_id: int) -> str | None:
    found = session.scalar(select(Customer.id).where(Customer.id == customer_id, Customer.manager_id == staff_id))
    return None if found is None else f"customer:{customer_id}"


def _advised(session: Session, staff_id: int, customer_id: int) -> str | None:
    found = session.scalar(select(Customer.id).where(Customer.id == customer_id, Customer.advisor_id == staff_id))
    return None if found is None else f"customer:{customer_id}"


PROVIDERS = (
    Provider(MANAGER, frozenset({"customer_manager"}), _managed),
    Provider(ADVISOR, frozenset({"advisor"}), _advised),
)
