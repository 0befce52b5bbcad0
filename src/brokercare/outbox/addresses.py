"""Recipients' addresses: checked when a message is queued, masked for staff."""

from __future__ import annotations

import re

from brokercare.core.errors import ValidationFailed
from brokercare.security.service import mask_phone

PHONE = re.compile(r"^\+?\d{6,20}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_address(channel: str, address: str | None) -> None:
    """Refuse an explicit address the channel could never deliver to."""
    if not address:
        return
    if channel == "sms" and not PHONE.match(address.replace(" ", "").replace("-", "")):
        raise ValidationFailed("outbox message refused: the SMS address is not a phone number")
    if channel == "email" and not EMAIL.match(address):
        raise ValidationFailed("outbox message refused: the e-mail address is not valid")


def address_hint(channel: str, address: str | None) -> str | None:
    """The address as staff may see it: phone 138****5678, e-mail z***@qq.com, openid oAbC****."""
    if not address:
        return None
    if channel == "sms":
        return mask_phone(address)
    if channel == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if channel == "wechat":
        return f"{address[:4]}****"
    return address if len(address) <= 12 else f"{address[:8]}****"
