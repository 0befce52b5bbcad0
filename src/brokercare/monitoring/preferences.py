"""Customers' alert rules (提醒设置): move threshold and window, volume and limit alerts, quiet
hours, hourly cap, channels and the margin-forecast threshold. A customer without a row of their
own gets ``DEFAULTS``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from brokercare.core.bulkread import driver_rows
from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import ValidationFailed
from brokercare.monitoring.models import AlertPreference

DEFAULTS = {
    "move_pct": 0.05,
    "window_min": 10,
    "volume_ratio": 3.0,
    "limit_alerts": True,
    "quiet_start": None,
    "quiet_end": None,
    "hourly_cap": 6,
    "channels": ["app"],
    "margin_forecast_threshold": 0.5,
    "daily_report": False,
}
CHANNELS = ("app", "sms", "wechat")
#: Above this many customers one read of every rule is cheaper than an ``IN`` list.
_READ_ALL_FROM = 30_000


def get_preferences(session: Session, customer_id: int) -> dict:
    row = session.get(AlertPreference, customer_id)
    if row is None:
        return dict(DEFAULTS)
    return {
        "move_pct": float(row.move_pct),
        "window_min": row.window_min,
        "volume_ratio": float(row.volume_ratio),
        "limit_alerts": row.limit_alerts,
        "quiet_start": row.quiet_start,
        "quiet_end": row.quiet_end,
        "hourly_cap": row.hourly_cap,
        "channels": list(row.channels or ["app"]),
        "margin_forecast_threshold": float(row.margin_forecast_threshold),
        "daily_report": bool(row.daily_report),
    }


def _check(changes: dict) -> None:
    """Refuse bad values with a message the customer can act on."""
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise ValidationFailed(f"不支持的提醒设置：{', '.join(sorted(unknown))}")
    if "move_pct" in changes and not 0.01 <= float(changes["move_pct"]) <= 0.2:
        raise ValidationFailed("涨跌幅提醒阈值需在 1% 到 20% 之间")
    if "window_min" in changes and not 1 <= int(changes["window_min"]) <= 60:
        raise ValidationFailed("时间窗口需在 1 到 60 分钟之间")
    if "volume_ratio" in changes and not 1.5 <= float(changes["volume_ratio"]) <= 20:
        raise ValidationFailed("放量提醒倍数需在 1.5 到 20 倍之间")
    if "hourly_cap" in changes and not 1 <= int(changes["hourly_cap"]) <= 60:
        raise ValidationFailed("每小时提醒上限需在 1 到 60 条之间")
    if "channels" in changes:
        chans = list(changes["channels"])
        if not chans or any(c not in CHANNELS for c in chans):
            raise ValidationFailed("提醒渠道只能是 app、sms、wechat 中的一个或多个")
    if (
        "margin_forecast_threshold" in changes
        and not 0.1 <= float(changes["margin_forecast_threshold"]) <= 0.95
    ):
        raise ValidationFailed("两融预警概率阈值需在 10% 到 95% 之间")
    if "daily_report" in changes and not isinstance(changes["daily_report"], bool):
        raise ValidationFailed("每日收盘报告订阅只能是开启或关闭")
    if ("quiet_start" in changes) != ("quiet_end" in changes):
        raise ValidationFailed("免打扰时段需要同时设置开始和结束时间")


def set_preferences(session: Session, customer_id: int, **changes) -> dict:
    """Change a customer's alert rules; bad values are refused with a Chinese message."""
    _check(changes)
    row = session.get(AlertPreference, customer_id)
    if row is None:
        row = AlertPreference(customer_id=customer_id, channels=["app"])
        session.add(row)
    for key, value in changes.items():
        if key in ("move_pct", "volume_ratio", "margin_forecast_threshold"):
            value = Decimal(str(value))
        if key in ("quiet_start", "quiet_end") and isinstance(value, str):
            value = time.fromisoformat(value)
        setattr(row, key, value)
    session.flush()
    return get_preferences(session, customer_id)


def preferences_of(session: Session, customer_ids: Iterable[int]) -> dict[int, AlertPreference]:
    """The stored rules of many customers in one read (customers on the defaults are absent)."""
    wanted = set(customer_ids)
    stmt = select(AlertPreference)
    if len(wanted) < _READ_ALL_FROM:
        stmt = stmt.where(AlertPreference.customer_id.in_(wanted))
    return {p.customer_id: p for p in session.scalars(stmt) if p.customer_id in wanted}


def message_channels(session: Session, customer_ids: Iterable[int]) -> dict[int, list[str]]:
    """The channels each customer chose for their messages, in their order (customers on the
    defaults are absent): what other domains' proactive messages prefer too."""
    return {cid: list(p.channels) for cid, p in preferences_of(session, customer_ids).items() if p.channels}


def daily_report_subscribers(conn: Connection, *, lo: int, hi: int) -> list[int]:
    """Customers ``lo..hi`` who asked for the post-close daily report, ascending."""
    return [r[0] for r in driver_rows(conn, select(AlertPreference.customer_id).where(
        AlertPreference.customer_id.between(lo, hi), AlertPreference.daily_report.is_(True))
        .order_by(AlertPreference.customer_id))]


def quiet_until(moment: datetime, start: time | None, end: time | None) -> datetime | None:
    """When a quiet period containing ``moment`` ends (None if ``moment`` is not in one)."""
    if start is None or end is None or start == end:
        return None
    local = moment.astimezone(SHANGHAI)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if (start < end or t < end) else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=SHANGHAI).astimezone(UTC)
