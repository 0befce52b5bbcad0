"""Contacts: who wrote, across channels (identity resolution).

One person is one contact however they reach the brokerage: a WeChat openid, a phone number, an
e-mail address and a login all lead to the same contact once the channel has verified them, so
one thread follows the customer from WeChat to the phone to the app. An unknown sender becomes a
prospect, never an error; when a prospect turns out to be a known customer, their history
follows them (:func:`resolve_contact` merges the two).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts
from brokercare.core.database import utcnow
from brokercare.core.errors import ValidationFailed
from brokercare.customers import service as customers
from brokercare.security.service import blind_index, get_cipher
from brokercare.service.channels import Identity
from brokercare.service.models import (
    Contact,
    ContactIdentity,
    Conversation,
    CsatSurvey,
    Feedback,
    Message,
    Ticket,
)

IDENTITY_ORDER = ("customer_id", "account_no", "wechat_openid", "phone", "email")


def normalise_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value or "")
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def _identity_key(kind: str, value: str) -> str:
    if kind == "phone":
        return blind_index(normalise_phone(value))
    if kind == "email":
        return blind_index(value.strip().lower())
    return value.strip()


def _customer_for(session: Session, ident: Identity) -> int | None:
    """The customer an identity proves, if the channel verified it (caller ids and From headers
    can be forged; an unverified one never opens a customer's context)."""
    if not ident.verified:
        return None
    value = ident.value.strip()
    if ident.kind == "customer_id":
        known = session.scalar(select(Contact.customer_id).where(Contact.customer_id == int(ident.value)))
        return known or customers.customer_id_by(session, customer_id=int(ident.value))
    if ident.kind == "account_no":
        return accounts.customer_of_account_no(session, value)
    if ident.kind == "wechat_openid":
        return customers.customer_id_by(session, wechat_openid=value)
    if ident.kind == "phone":
        return customers.customer_id_by(session, phone_hash=blind_index(normalise_phone(ident.value)))
    if ident.kind == "email":
        return customers.customer_id_by(session, email=value)
    return None


def _label(identities: list[Identity], display_name: str | None) -> str:
    if display_name:
        return display_name[:64]
    for ident in identities:
        if ident.kind == "wechat_openid":
            return f"微信用户 {ident.value[-6:]}"
        if ident.kind == "phone":
            p = normalise_phone(ident.value)
            return f"来电 {p[:3]}****{p[-4:]}" if len(p) >= 7 else "来电用户"
        if ident.kind == "email":
            return f"邮件 {ident.value.split('@')[-1]}"
    return "访客"


def contact_of_customer(session: Session, customer_id: int, now: datetime) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.customer_id == customer_id))
    if contact is None:
        try:
            with session.begin_nested():
                contact = Contact(customer_id=customer_id, kind="customer", label=f"客户 {customer_id}",
                                  created_at=now, last_seen_at=now)
                session.add(contact)
        except IntegrityError:  # another message of the same customer created it meanwhile
            contact = session.scalar(select(Contact).where(Contact.customer_id == customer_id))
    return contact


def _merge(session: Session, prospect: Contact, into: Contact) -> None:
    """A prospect turned out to be a known customer: their history follows them."""
    for model in (Conversation, Ticket, CsatSurvey):
        session.execute(model.__table__.update().where(model.contact_id == prospect.id)
                        .values(contact_id=into.id, customer_id=into.customer_id))
    session.execute(Feedback.__table__.update().where(Feedback.contact_id == prospect.id)
                    .values(contact_id=into.id, customer_id=into.customer_id))
    session.execute(Message.__table__.update().where(Message.contact_id == prospect.id)
                    .values(contact_id=into.id))
    session.execute(ContactIdentity.__table__.update().where(ContactIdentity.contact_id == prospect.id)
                    .values(contact_id=into.id))
    # Two open threads now belong to one customer: keep the newest open, close the older.
    open_convs = session.scalars(select(Conversation).where(
        Conversation.contact_id == into.id, Conversation.status != "closed")
        .order_by(Conversation.last_message_at.desc())).all()
    for older in open_convs[1:]:
        if older.status == "bot":
            older.status, older.closed_at = "closed", utcnow()
    session.delete(prospect)
    session.flush()


def resolve_contact(session: Session, identities: list[Identity], *, display_name: str | None = None,
                    now: datetime | None = None) -> Contact:
    """The contact behind these identities; an unknown sender becomes a prospect, never an error."""
    now = now or utcnow()
    if not identities:
        raise ValidationFailed("a message needs at least one sender identity")
    ordered = sorted(identities, key=lambda i: IDENTITY_ORDER.index(i.kind) if i.kind in IDENTITY_ORDER else 99)
    contact: Contact | None = None
    if ordered[0].kind == "customer_id" and ordered[0].verified and len(ordered) == 1:
        # A logged-in customer (app, web): one read on the hot path when their contact exists.
        contact = session.scalar(select(Contact).where(Contact.customer_id == int(ordered[0].value)))
        if contact is not None:
            if now - contact.last_seen_at > timedelta(minutes=5):
                contact.last_seen_at = now
            return contact
    for ident in ordered:
        customer_id = _customer_for(session, ident)
        if customer_id is not None:
            contact = contact_of_customer(session, customer_id, now)
            break
    known = {}
    for ident in ordered:
        if ident.kind == "customer_id":
            continue
        row = session.scalar(select(ContactIdentity).where(
            ContactIdentity.kind == ident.kind, ContactIdentity.key == _identity_key(ident.kind, ident.value)))
        if row is not None:
            known[ident] = row
    if contact is None:
        for row in known.values():
            contact = session.get(Contact, row.contact_id)
            break
    if contact is None:
        contact = Contact(customer_id=None, kind="prospect", label=_label(identities, display_name),
                          created_at=now, last_seen_at=now)
        session.add(contact)
        session.flush()
    for row in known.values():
        if row.contact_id != contact.id:
            other = session.get(Contact, row.contact_id)
            if other is not None and other.customer_id is None and contact.customer_id is not None:
                _merge(session, other, contact)
    cipher = None
    for ident in ordered:
        if ident in known:
            if ident.verified and not known[ident].verified:
                known[ident].verified = True
            continue
        if ident.kind == "customer_id":
            continue
        if ident.kind in ("phone", "email"):
            cipher = cipher or get_cipher(session)
            enc = cipher.encrypt(normalise_phone(ident.value) if ident.kind == "phone" else ident.value.lower())
        else:
            enc = None
        try:
            with session.begin_nested():
                session.add(ContactIdentity(contact_id=contact.id, kind=ident.kind,
                                            key=_identity_key(ident.kind, ident.value),
                                            value_enc=enc, verified=ident.verified, created_at=now))
        except IntegrityError:
            continue  # recorded by a concurrent message of the same sender
    contact.last_seen_at = now
    session.flush()
    return contact
