"""Checks of the numbers that identify a Chinese customer: identity number, bank card, mobile.

Pure functions, no database: a broker's file import rejects a bad row with the reason these give,
and the demo generator builds its numbers on the same rules.

The resident identity number (GB 11643-1999) is 6 digits of region (GB/T 2260 administrative
division: the first two name the province), 8 of birth date (``YYYYMMDD``), 3 of sequence (odd
for men, even for women) and an ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X``).
A bank card number is 15-19 digits ending in a Luhn check digit (ISO/IEC 7812). A mainland
mobile number is 11 digits starting ``13``-``19``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: MOD 11-2 weights of the 17 leading digits (2^(17-i) mod 11) and the check character by remainder.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

#: Province-level GB/T 2260 codes an identity number can start with (71 Taiwan, 81 Hong Kong,
#: 82 Macao, 83 the residence permits of Taiwan residents).
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83",
})


@dataclass(frozen=True)
class IdNumber:
    """What an identity number says about its holder."""

    number: str  # 18 characters, upper-case X
    region: str  # 6-digit administrative division where it was issued
    birth_date: date
    male: bool  # the sequence number is odd for men


def id_check_char(body: str) -> str:
    """The MOD 11-2 check character of the first 17 digits."""
    return ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def parse_id_number(value: str, *, on: date | None = None) -> IdNumber:
    """The holder's region, birth date and sex, or ``ValueError`` with the reason.

    Checks format, province, birth date (a real day from 1900, not after ``on``) and check
    character. Spaces around the number and a lower-case ``x`` are accepted.
    """
    v = value.strip().upper()
    if len(v) != 18 or not v[:17].isdigit() or v[17] not in "0123456789X":
        raise ValueError("an identity number has 17 digits and a digit or X")
    if v[:2] not in PROVINCE_CODES:
        raise ValueError(f"region {v[:6]} is not in a province")
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise ValueError(f"birth date {v[6:14]} is not a date") from None
    if born.year < 1900 or (on is not None and born > on):
        raise ValueError(f"birth date {born:%Y-%m-%d} is out of range")
    if id_check_char(v[:17]) != v[17]:
        raise ValueError("the check character does not match")
    return IdNumber(v, v[:6], born, int(v[16]) % 2 == 1)


def is_valid_id_number(value: str, *, on: date | None = None) -> bool:
    """Format, province, birth date and check character of an 18-character identity number."""
    try:
        parse_id_number(value, on=on)
    except ValueError:
        return False
    return True


def luhn_check_digit(body: str) -> str:
    """The Luhn digit that completes ``body`` (all digits but the last of a card number)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:  # doubled: the rightmost body digit and every second one before it
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return str((10 - total % 10) % 10)


def is_valid_card(value: str) -> bool:
    """15-19 digits (spaces allowed) whose last is the Luhn check digit of the others."""
    v = value.replace(" ", "")
    return v.isdigit() and 15 <= len(v) <= 19 and luhn_check_digit(v[:-1]) == v[-1]


def normalise_mobile(value: str) -> str:
    """The 11 digits of a mainland mobile number (``+86``, spaces and dashes dropped), or
    ``ValueError``."""
    p = value.strip().replace(" ", "").replace("-", "")
    if p.startswith("+86"):
        p = p[3:]
    if len(p) != 11 or not p.isdigit() or p[0] != "1" or p[1] not in "3456789":
        raise ValueError(f"{value!r} is not a mainland mobile number")
    return p


def is_valid_mobile(value: str) -> bool:
    try:
        normalise_mobile(value)
    except ValueError:
        return False
    return True
