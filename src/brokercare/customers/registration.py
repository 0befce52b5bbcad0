"""A person who applies online becomes a customer here: the profile row the opening journey needs
before the risk questionnaire (advisory reads the birth date from it), created with status
``applying`` and moved to ``active`` when the account is issued (or ``rejected``).

Identity number, phone and address are stored encrypted with their blind indexes, as the bulk
import stores them; the number must not already belong to a customer.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.core.identifiers import normalise_mobile, parse_id_number
from brokercare.customers.models import Customer
from brokercare.security.service import blind_index, get_cipher

STATUSES = ("applying", "active", "dormant", "closed", "rejected")


def register_applicant(session: Session, *, name: str, id_number: str, phone: str, address: str,
                       province: str, city: str, occupation: str, branch_code: str, today: date) -> Customer:
    """The applicant's customer row (flushed, not committed). A number that already belongs to a
    customer or an application in progress raises :class:`Conflict` and writes nothing; an
    applicant refused before applies again on their own row."""
    parsed = parse_id_number(id_number, on=today)
    mobile = normalise_mobile(phone)
    hashed = blind_index(parsed.number)
    customer = session.scalar(select(Customer).where(Customer.id_number_hash == hashed))
    if customer is not None and customer.status == "applying":
        raise Conflict("该身份证号已有一份进行中的开户申请，请用当时的手机号选择“继续开户”。")
    if customer is not None and customer.status != "rejected":
        raise Conflict("该身份证号已开立过账户，请直接登录或联系客服。")
    cipher = get_cipher(session)
    fields = dict(
        name=name.strip()[:32], gender="M" if parsed.male else "F", birth_date=parsed.birth_date,
        id_number_enc=cipher.encrypt(parsed.number), id_number_hash=hashed, phone_enc=cipher.encrypt(mobile),
        phone_hash=blind_index(mobile), phone_verified=True, address_enc=cipher.encrypt(address.strip()),
        province=province[:16], city=city[:16], occupation=occupation[:32], branch_code=branch_code[:8],
        opened_on=today, status="applying")
    if customer is not None:  # refused before, applying again: the same person, the same row
        for key, value in fields.items():
            setattr(customer, key, value)
        session.flush()
        return customer
    customer = Customer(customer_no="P", **fields)
    with session.begin_nested():
        session.add(customer)
        session.flush()
        customer.customer_no = f"9{customer.id:011d}"  # online applicants: 9 + id (imports use 8)
        session.flush()
    return customer


def set_status(session: Session, customer_id: int, status: str, *, opened_on: date | None = None) -> None:
    """Move a customer to ``status`` (an applicant to ``active`` on the day the account opens)."""
    if status not in STATUSES:
        raise ValidationFailed(f"unknown customer status {status!r}; statuses: {', '.join(STATUSES)}")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    customer.status = status
    if opened_on is not None:
        customer.opened_on = opened_on
    session.flush()
