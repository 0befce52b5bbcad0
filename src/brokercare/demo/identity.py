"""Identity numbers and bank cards for a whole chunk of customers at once, vectorised.

The rules (GB 11643-1999 MOD 11-2, Luhn) and their one-number checks live in
:mod:`brokercare.core.identifiers`; this module applies them to NumPy arrays.
"""

from __future__ import annotations

import numpy as np

from brokercare.core.identifiers import ID_CHECK_CHARS, ID_WEIGHTS

_WEIGHTS = np.array(ID_WEIGHTS, dtype=np.int64)
_CHECK = np.array(list(ID_CHECK_CHARS))


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
    check = _CHECK[(_digits(body, 17) * _WEIGHTS).sum(axis=1) % 11]
    return np.char.add(np.char.zfill(body.astype("U17"), 17), check)


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
