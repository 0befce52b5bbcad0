"""Personal numbers typed into free text (chat, email, call transcripts): found and masked.

Customers type their ID number, bank card or phone into the chat to "speed things up". What
staff, the assistant and the logs see is the masked text; the original is sealed by the field
cipher by whoever stores the message. A candidate counts only when its checksum holds, so order
numbers, amounts and dates are left alone:

* ID number (居民身份证号码): 18 characters, a real birth date, and the GB 11643-1999 ISO 7064
  MOD 11-2 check character;
* bank card: 13–19 digits, possibly in groups of four, passing the Luhn check;
* mobile number: 11 digits starting 13–19 (with or without +86, spaces or dashes); a mobile
  number has no check digit, so the prefix is all there is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from brokercare.security.masking import mask_bank_card, mask_id_number, mask_phone

_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{4})(\d{2})(\d{2})\d{3}[\dXx](?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![\d-])\d{4}(?:[ -]?\d){9,15}(?![\d-])")
_PHONE = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_ok(value: str) -> bool:
    """GB 11643: a plausible birth date and the MOD 11-2 check character."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= date.today():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass
class Redacted:
    text: str
    found: list[str] = field(default_factory=list)  # kinds, in order of appearance

    @property
    def changed(self) -> bool:
        return bool(self.found)


def redact_typed_pii(text: str) -> Redacted:
    """``text`` with every checksum-valid ID number, bank card and mobile number masked."""
    spans: list[tuple[int, int, str, str]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e, _, _ in spans)

    for m in _ID.finditer(text):
        value = m.group(0).upper()
        if id_number_ok(value):
            spans.append((m.start(), m.end(), "id_number", mask_id_number(value)))
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group(0))
        if 13 <= len(digits) <= 19 and free(m.start(), m.end()) and luhn_ok(digits) and not _is_phone(digits):
            spans.append((m.start(), m.end(), "bank_card", mask_bank_card(digits)))
    for m in _PHONE.finditer(text):
        if free(m.start(), m.end()):
            spans.append((m.start(), m.end(), "phone", mask_phone("".join(m.groups()))))
    if not spans:
        return Redacted(text)
    spans.sort()
    out, last = [], 0
    for start, end, _, masked in spans:
        out.append(text[last:start])
        out.append(masked)
        last = end
    out.append(text[last:])
    return Redacted("".join(out), [kind for *_, kind, _ in spans])


def _is_phone(digits: str) -> bool:
    return len(digits) == 11 and digits[0] == "1"
