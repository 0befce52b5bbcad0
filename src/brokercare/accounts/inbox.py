"""Files the accounts domain receives from outside (a bank's statement, the fund companies' NAV
file): read whole and checked before anything is written, so a bad row refuses the file with
its row number and changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from brokercare.core.bulkimport import read_rows
from brokercare.core.errors import ValidationFailed

Row = TypeVar("Row")


def read_checked(path: Path, columns: Sequence[str], parse: Callable[[dict, int], Row], *,
                 refused: str) -> list[Row]:
    """Every row of ``path`` parsed, or ValidationFailed naming the bad rows (``parse`` raises
    ValueError with the row's problem; ``refused`` says what did not happen, e.g. "nothing loaded")."""
    header, rows = read_rows(path)
    missing = set(columns) - set(header)
    if missing:
        raise ValidationFailed(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
    out, errors = [], []
    for i, rec in enumerate(rows):
        if rec is None:
            continue
        try:
            out.append(parse(rec, i + 2))
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValidationFailed(f"{path.name}: {refused}; " + "; ".join(errors[:10]))
    return out
