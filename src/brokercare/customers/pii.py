"""A customer's personal data as a caller may see it: masked, whole, or whole on request, and audited.

The customers domain owns the encrypted identity columns (name, ID number, phone, address) and is
the one place they are decrypted for people; the bank cards come from the accounts service. Which
role sees which data class whole is the security policy's clearance matrix
(:func:`brokercare.security.policy.visibility`). Every time a class-3/4 value leaves whole for
staff, the fields, why and a keyed hash of each value (never the value) go to the tamper-evident
ledger: inside the request's ``access.read`` entry when the caller passes its read log (one entry
per request, with the relationship that allowed it), else as a ``pii.read`` entry of their own.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from brokercare.core.errors import PermissionDenied
from brokercare.customers.models import Customer
from brokercare.ledger.service import append
from brokercare.security.access import ReadLog
from brokercare.security.policy import PII_FIELDS, Principal, data_class_of, may_reveal, visibility
from brokercare.security.service import MASKERS, blind_index, get_cipher

IDENTITY_FIELDS = ("name", "id_number", "phone", "address")


def _bank_cards(session: Session, customer_id: int) -> list[dict]:
    # accounts.service imports customers.service at load time, so it is imported when first used.
    from brokercare.accounts.service import bank_cards_of_customers

    return [{"account_id": c.account_id, "account_no": c.account_no, "bank_name": c.bank_name, "card": c.card}
            for c in bank_cards_of_customers(session, [customer_id])[customer_id]]


def _check_access(user: Principal, customer: Customer, reveal: bool) -> bool:
    """Whether the caller is the customer themself; refuses what the role may not ask for."""
    own = user.role == "customer" and user.customer_id == customer.id
    if user.role == "customer" and not own:
        raise PermissionDenied("您只能查看本人的信息。")
    if reveal and not own and not may_reveal(user.role, 4) and not may_reveal(user.role, 3):
        raise PermissionDenied(
            f"role {user.role!r} is not cleared to reveal class 3/4 personal data; ask a compliance officer"
        )
    return own


def _identity_in_clear(session: Session, customer: Customer) -> dict[str, str | None]:
    cipher = get_cipher(session)
    return {
        "name": customer.name,
        "id_number": cipher.decrypt(customer.id_number_enc) if customer.id_number_enc else None,
        "phone": cipher.decrypt(customer.phone_enc) if customer.phone_enc else None,
        "address": cipher.decrypt(customer.address_enc) if customer.address_enc else None,
    }


def _audit(session: Session, user: Principal, customer: Customer, fields: list[str], digests: dict[str, str],
           *, reveal: bool, reason: str | None) -> None:
    append(
        session,
        "pii.read",
        f"customer:{customer.id}",
        {
            "user_id": user.id,
            "role": user.role,
            "customer_id": customer.id,
            "fields": fields,
            "revealed_on_request": bool(reveal),
            "reason": reason or ("routine view" if not reveal else "revealed on request"),
            "value_hmacs": digests,
        },
    )


def customer_pii(
    session: Session,
    user: Principal,
    customer: Customer,
    *,
    reveal: bool = False,
    reason: str | None = None,
    commit: bool = True,
    reads: ReadLog | None = None,
) -> dict:
    """A customer's name, ID number, phone, address and bank cards as ``user`` may see them.

    Values of a class the role is cleared for (``full``) are whole; classes the role may reveal are
    whole only with ``reveal=True``; others are masked. ``reveal=True`` from a role that may not see
    a class-4 value raises :class:`PermissionDenied`. A customer sees their own data whole and may
    not read another customer's. Whole class-3/4 values read by staff are appended to the ledger;
    with ``commit=True`` (the default) the session is committed so the audit entry is durable before
    the values leave; callers composing a larger write pass ``commit=False`` and commit themselves.
    With ``reads`` (the request's read log) the fields join its one ``access.read`` entry instead,
    written when the log is flushed.
    """
    own = _check_access(user, customer, reveal)
    clear = _identity_in_clear(session, customer)
    cards = _bank_cards(session, customer.id)

    def whole(field: str) -> bool:
        if own:
            return True
        vis = visibility(user.role, data_class_of(field))
        return vis == "full" or (vis == "reveal" and reveal)

    out: dict = {"customer_id": customer.id, "customer_no": customer.customer_no}
    shown: list[str] = []
    masked: list[str] = []
    digests: dict[str, str] = {}
    for field in IDENTITY_FIELDS:
        value = clear[field]
        if value is None:
            out[field] = None
        elif whole(field):
            out[field] = value
            shown.append(field)
            digests[field] = blind_index(value)
        else:
            out[field] = MASKERS[field](value)
            masked.append(field)
    card_whole = whole("bank_card")
    for card in cards:
        if card["card"] is not None:
            if card_whole:
                digests[f"bank_card:{card['account_id']}"] = blind_index(card["card"])
            else:
                card["card"] = MASKERS["bank_card"](card["card"])
    if cards and any(c["card"] for c in cards):
        (shown if card_whole else masked).append("bank_cards")
    out["bank_cards"] = cards
    out["masked_fields"] = masked
    out["data_classes"] = {f: data_class_of(f) for f in PII_FIELDS}

    sensitive = [f for f in shown if data_class_of(f) >= 3]
    if sensitive and not own and reads is not None:
        reads.note_pii(customer.id, sensitive, digests, revealed=reveal, reason=reason)
    elif sensitive and not own:
        _audit(session, user, customer, sensitive, digests, reveal=reveal, reason=reason)
        if commit:
            session.commit()
    return out
