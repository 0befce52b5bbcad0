"""Chinese identity numbers, bank cards and phone numbers, generated and checked in bulk.

The resident identity number (GB 11643-1999) is 6 digits of region, 8 of birth date, 3 of
sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import numpy as np

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK = np.array(list("10X98765432"))


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative ints, most significant first, shape (n, width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers) % 10


def id_body(region: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """The first 17 digits as one int64: region (6) + YYYYMMDD (8) + sequence (3)."""
    b = birth.astype("datetime64[D]")
    years = b.astype("datetime64[Y]").astype(np.int64) + 1970
    months = (b.astype("datetime64[M]").astype(np.int64) % 12) + 1
    days = (b - b.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = years * 10_000 + months * 100 + days
    return region.astype(np.int64) * 10**11 + ymd * 1000 + seq.astype(np.int64)


def id_numbers(body: np.ndarray) -> np.ndarray:
    """18-character identity numbers from 17-digit bodies."""
    check = ID_CHECK[(_digits(body, 17) * ID_WEIGHTS).sum(axis=1) % 11]
    return np.char.add(np.char.zfill(body.astype("U17"), 17), check)


def is_valid_id_number(value: str, *, on: date | None = None) -> bool:
    """Format, birth date and check character of an 18-digit identity number."""
    v = value.strip().upper()
    if len(v) != 18 or not v[:17].isdigit() or v[17] not in "0123456789X":
        return False
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or (on is not None and born > on):
        return False
    total = sum(int(d) * int(w) for d, w in zip(v[:17], ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == v[17]


def luhn_complete(body: np.ndarray, width: int) -> np.ndarray:
    """Append the Luhn check digit to ``width``-digit card bodies (as strings)."""
    d = _digits(body, width)
    # Doubling applies to every second digit counting from the right of the full number,
    # i.e. the rightmost body digit and every second one before it.
    dbl = d[:, ::-1].copy()
    dbl[:, 0::2] *= 2
    dbl[dbl > 9] -= 9
    check = (10 - dbl.sum(axis=1) % 10) % 10
    return np.char.add(np.char.zfill(body.astype(f"U{width}"), width), check.astype("U1"))


def is_valid_card(value: str) -> bool:
    v = value.replace(" ", "")
    if not v.isdigit() or not 15 <= len(v) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(v)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n * 2 > 9 else n * 2
        total += n
    return total % 10 == 0


class BlindIndexer:
    """``security.crypto.blind_index`` for many values with the key derived once."""

    def __init__(self, master_key: bytes):
        self._key = hashlib.sha256(b"brokercare-blind-index:" + master_key).digest()

    def many(self, values: list[str]) -> list[str]:
        key, digest = self._key, hmac.digest
        return [digest(key, "".join(v.split()).upper().encode(), "sha256").hex() for v in values]
