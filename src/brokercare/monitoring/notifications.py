"""The notification outbox dispatcher and its channel adapters (app push, SMS, WeChat template).

Alerts and their notification rows are committed together (see ``service.record_findings``), so
nothing a worker decided can be lost. The dispatcher claims due rows with a lease (a
compare-and-set on ``lease_until``), hands each to its channel's gateway with the row's
idempotency key, and marks it sent. If it dies in between, the lease runs out and another
dispatcher sends the row again with the same key: delivery to the gateway is at least once, and
the gateway's idempotency (or the spool's de-duplication by key) makes it once for the customer.

Recipients are addressed by customer number, WeChat openid or app user id; phone numbers stay
encrypted in the customer table and are resolved by the broker's SMS platform.

Settings (env ``BROKERCARE_MONITOR_...``): ``NOTIFY_URL`` (an HTTP gateway; unset: a spool
directory under the data dir that the broker's message platform collects), ``LEASE_S``,
``MAX_ATTEMPTS``, ``RATE_PER_S`` (gateways throttle senders), ``SMS_SIGNATURE``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from brokercare.core.database import session_factory, utcnow
from brokercare.core.domains import load_all_models
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.customers.service import get_customers
from brokercare.monitoring.models import Notification

log = logging.getLogger(__name__)


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BROKERCARE_MONITOR_", extra="ignore")

    notify_url: str | None = None
    lease_s: float = 60.0
    max_attempts: int = 5
    rate_per_s: float = 0.0  # 0: unthrottled
    sms_signature: str = "BrokerCare证券"
    wechat_template_id: str = "ALERT_NOTICE"


@dataclass(frozen=True)
class Recipient:
    customer_id: int
    customer_no: str
    wechat_openid: str | None


class Undeliverable(Exception):
    """The channel cannot reach this customer (e.g. WeChat not bound): do not retry."""


class ChannelAdapter(Protocol):
    channel: str

    def render(self, n: Notification, to: Recipient) -> dict[str, Any]: ...


class AppPushAdapter:
    channel = "app"

    def render(self, n: Notification, to: Recipient) -> dict[str, Any]:
        return {
            "to": f"user:{to.customer_no}",
            "title": n.title,
            "body": n.body,
            "priority": "high" if n.urgent else "normal",
            "data": {"notification_id": n.id, "alert_id": n.alert_id, "kind": n.kind},
        }


class SmsAdapter:
    """SMS text with the 【signature】; 70 characters per segment, 67 when concatenated."""

    channel = "sms"

    def __init__(self, signature: str) -> None:
        self.signature = signature

    def render(self, n: Notification, to: Recipient) -> dict[str, Any]:
        text = f"【{self.signature}】{n.title}：{n.body}"
        segments = 1 if len(text) <= 70 else -(-len(text) // 67)
        return {"customer_no": to.customer_no, "text": text, "segments": segments}


class WeChatTemplateAdapter:
    """A WeChat Official Account template message (first / keyword1..2 / remark)."""

    channel = "wechat"

    def __init__(self, template_id: str) -> None:
        self.template_id = template_id

    def render(self, n: Notification, to: Recipient) -> dict[str, Any]:
        if not to.wechat_openid:
            raise Undeliverable("客户未绑定微信公众号")
        return {
            "touser": to.wechat_openid,
            "template_id": self.template_id,
            "data": {
                "first": {"value": n.title},
                "keyword1": {"value": n.kind},
                "keyword2": {
                    "value": n.created_at.strftime("%Y-%m-%d %H:%M") if n.created_at else ""
                },
                "remark": {"value": n.body},
            },
        }


class Transport(Protocol):
    def send(self, channel: str, request: dict[str, Any], idempotency_key: str) -> str: ...


class SpoolTransport:
    """Hands requests to the broker's message platform through append-only JSON-lines files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def send(self, channel: str, request: dict[str, Any], idempotency_key: str) -> str:
        line = json.dumps({"key": idempotency_key, "request": request}, ensure_ascii=False)
        with (self.directory / f"{channel}.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return f"{channel}:{idempotency_key}"

    def delivered_keys(self, channel: str) -> list[str]:
        path = self.directory / f"{channel}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["key"] for line in path.read_text("utf-8").splitlines() if line]


class HttpTransport:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.client = httpx.Client(timeout=timeout)
        self.url = url.rstrip("/")

    def send(self, channel: str, request: dict[str, Any], idempotency_key: str) -> str:
        r = self.client.post(
            f"{self.url}/{channel}", json=request, headers={"Idempotency-Key": idempotency_key}
        )
        r.raise_for_status()
        return str(r.json().get("id", idempotency_key))


def default_transport(settings: NotifySettings | None = None) -> Transport:
    settings = settings or NotifySettings()
    if settings.notify_url:
        return HttpTransport(settings.notify_url)
    return SpoolTransport(Path(get_settings().data_dir) / "outbox")


def adapters(settings: NotifySettings) -> dict[str, ChannelAdapter]:
    return {
        "app": AppPushAdapter(),
        "sms": SmsAdapter(settings.sms_signature),
        "wechat": WeChatTemplateAdapter(settings.wechat_template_id),
    }


# dispatching ----------------------------------------------------------------------------------
def claim(session: Session, now: datetime, batch: int, lease_s: float) -> list[int]:
    """Lease up to ``batch`` due rows to this dispatcher; rows leased by a live one are skipped."""
    due = (
        select(Notification.id)
        .where(
            Notification.status == "pending",
            Notification.not_before <= now,
            or_(Notification.lease_until.is_(None), Notification.lease_until < now),
        )
        .order_by(Notification.urgent.desc(), Notification.not_before, Notification.id)
        .limit(batch)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        session.commit()
        return []
    until = now + timedelta(seconds=lease_s)
    claimed = []
    for nid in ids:
        res = session.execute(
            update(Notification)
            .where(
                Notification.id == nid,
                Notification.status == "pending",
                or_(Notification.lease_until.is_(None), Notification.lease_until < now),
            )
            .values(lease_until=until, attempts=Notification.attempts + 1)
        )
        if res.rowcount:
            claimed.append(nid)
    session.commit()
    return claimed


def dispatch_once(
    sessions: Callable[[], Session],
    transport: Transport,
    *,
    settings: NotifySettings | None = None,
    batch: int = 200,
    now: datetime | None = None,
) -> int:
    """Send one batch of due notifications; returns how many were handed to a gateway."""
    settings = settings or NotifySettings()
    chans = adapters(settings)
    now = now or utcnow()
    with sessions() as session:
        ids = claim(session, now, batch, settings.lease_s)
    sent = 0
    interval = 1.0 / settings.rate_per_s if settings.rate_per_s > 0 else 0.0
    for nid in ids:
        with sessions() as session:
            n = session.get(Notification, nid)
            if n is None or n.status != "pending":
                continue
            c = next(iter(get_customers(session, [n.customer_id])), None)
            to = Recipient(
                n.customer_id,
                c.customer_no if c else str(n.customer_id),
                c.wechat_openid if c else None,
            )
            try:
                adapter = chans[n.channel]
                request = adapter.render(n, to)
                ref = transport.send(n.channel, request, n.idempotency_key)
            except Undeliverable as exc:
                n.status, n.last_error, n.lease_until = "failed", str(exc), None
            except Exception as exc:  # any gateway error: retried after the lease
                n.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if n.attempts >= settings.max_attempts:
                    n.status, n.lease_until = "failed", None
                log.warning("notification %s via %s failed: %s", nid, n.channel, n.last_error)
            else:
                n.status, n.provider_ref, n.sent_at, n.lease_until = "sent", ref, utcnow(), None
                sent += 1
            session.commit()
        if interval:
            time.sleep(interval)
    return sent


def run_dispatcher(*, once: bool = False, batch: int = 200, idle_s: float = 1.0) -> int:
    settings = NotifySettings()
    transport = default_transport(settings)
    total = 0
    while True:
        n = dispatch_once(session_factory(), transport, settings=settings, batch=batch)
        total += n
        if once and n == 0:
            return total
        if n == 0:
            time.sleep(idle_s)


# receipts -------------------------------------------------------------------------------------
def mark_delivered(session: Session, provider_ref: str, at: datetime | None = None) -> Notification:
    n = session.scalar(select(Notification).where(Notification.provider_ref == provider_ref))
    if n is None:
        raise NotFound(f"no notification with provider reference {provider_ref}")
    if n.status == "sent":
        n.status, n.delivered_at = "delivered", at or utcnow()
    session.flush()
    return n


def mark_read(session: Session, notification_id: int, customer_id: int) -> Notification:
    n = session.get(Notification, notification_id)
    if n is None or n.customer_id != customer_id:
        raise NotFound("没有找到这条消息")
    if n.status not in ("sent", "delivered", "read"):
        raise ValidationFailed("这条消息尚未送达，无法标记为已读")
    if n.status != "read":
        n.status, n.read_at = "read", utcnow()
        n.delivered_at = n.delivered_at or n.read_at
    session.flush()
    return n


def inbox(session: Session, customer_id: int, limit: int = 50) -> list[Notification]:
    """The customer's in-app messages, newest first (what the app's message centre shows)."""
    return list(
        session.scalars(
            select(Notification)
            .where(
                Notification.customer_id == customer_id,
                Notification.channel == "app",
                Notification.status.in_(("sent", "delivered", "read")),
            )
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m brokercare.monitoring.notifications``: run a dispatcher until killed."""
    load_all_models()
    logging.basicConfig(level=logging.INFO)
    run_dispatcher()


if __name__ == "__main__":
    main()
