"""Amounts of money as a Chinese reader expects them: 元 below ten thousand, then 万元 and 亿元.

One formatter for every customer- and staff-facing text (alerts, replies, proposals, pages), so
the same figure never reads two ways on one screen.
"""

from __future__ import annotations

from decimal import Decimal

_YI = 100_000_000
_WAN = 10_000


def format_amount(
    value: Decimal | float | int | None,
    *,
    digits: int = 2,
    yuan_digits: int = 0,
    approx: bool = False,
    signed: bool = False,
    absolute: bool = False,
) -> str:
    """``3,560元``, ``1.42万元``, ``2.05亿元``.

    ``digits`` are the decimals shown in 万/亿; ``yuan_digits`` below 1 万. ``approx`` prefixes 约
    (a rounded plan figure). ``signed`` writes the minus sign of a loss; ``absolute`` drops it (the
    caller says 浮亏 in words). ``None`` reads as ``—``.
    """
    if value is None:
        return "—"
    v = float(value)
    sign = "-" if v < 0 and not absolute else ""
    if signed and v > 0:
        sign = "+"
    a = abs(v)
    if a >= _YI:
        body = f"{a / _YI:.{digits}f}亿元"
    elif a >= _WAN:
        body = f"{a / _WAN:.{digits}f}万元"
    else:
        body = f"{a:,.{yuan_digits}f}元"
    return f"{'约' if approx else ''}{sign}{body}"
