"""Events from a broker's own systems (the trading system, the app's gateway) into the platform's
bus: ``POST /api/v1/events`` takes a batch, idempotent by event id, and publishes each event under
the type its owners listen for — the account-risk checks score logins, credential changes,
transfers and orders; the customer profile stores behaviour and refreshes at once.

The columns are those of the risk domain's event file (``brokercare risk scenarios``), so a file a
broker replays and a live feed are one format. A batch is all or nothing: one bad event refuses the
whole batch with its number, and nothing is published.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.orm import Session

from brokercare.core.after_commit import publish_after_commit
from brokercare.core.bus import Event
from brokercare.core.errors import ValidationFailed
from brokercare.core.service import mark_processed

CONSUMER = "events.intake"
MAX_BATCH = 5_000
#: The wire type of an event -> the bus type its owners subscribe to.
BUS_TYPE = {
    "login": "login.succeeded", "login_failed": "login.failed", "password_change": "password.changed",
    "device_change": "device.changed", "transfer_out": "transfer.requested", "order": "order.placed",
    "trade": "trade.executed", "page_view": "behaviour.recorded", "search": "behaviour.recorded",
    "content_read": "behaviour.recorded",
}
EventKind = Literal["login", "login_failed", "password_change", "device_change", "transfer_out", "order",
                    "trade", "page_view", "search", "content_read"]


class EventColumns(BaseModel):
    """The columns an event of the broker's systems carries besides its id, type and time (the risk
    domain's event file and this intake share them). ``card`` is the bank card's token (a keyed
    hash), never the card number."""

    customer_id: int | None = Field(None, ge=1)
    ip: str | None = Field(None, max_length=45)
    device_id: str | None = Field(None, max_length=64)
    city: str | None = Field(None, max_length=16, description="The channel's own reading; the IP decides.")
    channel: str | None = Field(None, max_length=12)
    amount: Decimal | None = Field(None, ge=0, max_digits=16, decimal_places=2)
    card: str | None = Field(None, max_length=64)
    symbol: str | None = Field(None, max_length=16)
    side: Literal["buy", "sell"] | None = None
    quantity: int | None = Field(None, ge=0)
    price: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=4)


class PlatformEventIn(EventColumns):
    """One event as ``POST /api/v1/events`` takes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=64)
    type: EventKind
    occurred_at: AwareDatetime
    page: str | None = Field(None, max_length=64)
    query: str | None = Field(None, max_length=120)
    topic: str | None = Field(None, max_length=32)
    duration_s: int | None = Field(None, ge=0, le=86_400)

    @model_validator(mode="after")
    def _complete(self) -> PlatformEventIn:
        if self.type != "login_failed" and self.customer_id is None:
            raise ValueError(f"a {self.type} event needs the customer it concerns (customer_id)")
        if self.type == "transfer_out" and self.amount is None:
            raise ValueError("a transfer_out event needs its amount")
        if self.type in ("order", "trade") and not (self.symbol and self.side and self.quantity):
            raise ValueError(f"an {self.type} event needs symbol, side and quantity")
        return self


class Accepted(BaseModel):
    accepted: int
    duplicates: int = Field(description="events whose id was taken before: not published again")


def parse_batch(raw: list[dict], *, now: datetime | None = None) -> list[PlatformEventIn]:
    """Every event checked before any is taken; the first problems named by their number."""
    if not raw:
        raise ValidationFailed("the batch has no events")
    if len(raw) > MAX_BATCH:
        raise ValidationFailed(f"a batch holds at most {MAX_BATCH} events; this one has {len(raw)}")
    latest = (now or datetime.now(UTC)) + timedelta(minutes=5)
    events, problems = [], []
    for n, item in enumerate(raw, start=1):
        try:
            e = PlatformEventIn.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            problems.append(f"event {n}: {where + ' ' if where else ''}{first['msg']}")
            continue
        if e.occurred_at > latest:
            problems.append(f"event {n} ({e.event_id}): occurred_at is in the future")
        events.append(e)
    ids = [e.event_id for e in events]
    if len(set(ids)) != len(ids):
        problems.append("the batch names the same event_id twice")
    if problems:
        raise ValidationFailed("events refused, nothing taken: " + "; ".join(problems[:5])
                               + (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""))
    return events


def accept(session: Session, events: list[PlatformEventIn]) -> Accepted:
    """Record each new event id and publish the event when the caller commits."""
    fresh = 0
    for e in events:
        if not mark_processed(session, CONSUMER, e.event_id):
            continue
        fresh += 1
        payload = e.model_dump(mode="json", exclude={"event_id", "occurred_at", "customer_id"}, exclude_none=True)
        publish_after_commit(session, Event(type=BUS_TYPE[e.type], payload=payload, customer_id=e.customer_id,
                                            id=e.event_id, occurred_at=e.occurred_at.astimezone(UTC)))
    return Accepted(accepted=fresh, duplicates=len(events) - fresh)
