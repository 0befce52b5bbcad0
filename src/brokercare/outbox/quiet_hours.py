"""Quiet hours: the part of a day (Beijing time) when a customer is not to be disturbed.

A period may wrap midnight (21:00–08:00). A message that falls due inside one waits until it
ends, unless it is urgent (a margin call, a reply to a customer who is writing right now).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.outbox.models import QuietHours

Period = tuple[time, time]
_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})\s*$")


def parse_period(text: str | None) -> Period | None:
    """``"21:00-08:00"`` → (21:00, 08:00); empty → None; anything else is refused."""
    if not text or not text.strip():
        return None
    m = _PERIOD.match(text)
    if not m:
        raise ValidationFailed(f"quiet hours must look like 21:00-08:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValidationFailed(f"quiet hours must be times of day, got {text!r}")
    return time(h1, m1), time(h2, m2)


def quiet_until(moment: datetime, period: Period | None) -> datetime | None:
    """When the quiet period containing ``moment`` ends (UTC), or None if ``moment`` is outside."""
    if period is None or period[0] == period[1]:
        return None
    start, end = period
    local = moment.astimezone(SHANGHAI)
    t = local.time().replace(tzinfo=None)
    wraps = start > end
    inside = (t >= start or t < end) if wraps else (start <= t < end)
    if not inside:
        return None
    end_day = local.date() + timedelta(days=1) if wraps and t >= start else local.date()
    return datetime.combine(end_day, end, tzinfo=SHANGHAI).astimezone(UTC)


def describe(period: Period | None) -> str | None:
    return f"{period[0]:%H:%M}-{period[1]:%H:%M}" if period else None


def periods_of(session: Session, customer_ids: Iterable[int]) -> dict[int, tuple[Period | None, str]]:
    """Each customer's quiet period and where it comes from: their own (``customer``), else the
    broker's default (``default``, setting ``BROKERCARE_OUTBOX_QUIET_HOURS``), else ``none``."""
    ids = list(dict.fromkeys(customer_ids))
    own = {r.customer_id: (r.start, r.end) for r in session.scalars(
        select(QuietHours).where(QuietHours.customer_id.in_(ids)))} if ids else {}
    default = parse_period(get_settings().outbox_quiet_hours)
    return {cid: (own[cid], "customer") if cid in own else (default, "default" if default else "none")
            for cid in ids}
