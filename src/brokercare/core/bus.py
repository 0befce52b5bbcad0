"""The event bus: one interface, two backends.

Channels and market feeds publish :class:`Event` objects; domains subscribe by event type and a
consumer-group name. The in-process backend (default) dispatches synchronously in the publisher's
thread, so a test or the embedded install sees effects at once. The Redis Streams backend (set
``BROKERCARE_BUS_URL=redis://...``) gives consumer groups and at-least-once delivery; handlers
make that exactly-once in effect by recording the event id (:func:`brokercare.core.service.
mark_processed`) in the same transaction as their writes.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel

from brokercare.core.logs import log_context

log = logging.getLogger(__name__)


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    type: str
    payload: dict[str, Any]
    customer_id: int | None = None
    id: str = field(default_factory=_new_id)
    occurred_at: datetime = field(default_factory=_now)
    schema_version: int = 1

    def to_json(self) -> str:
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        return json.dumps(data, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        data = json.loads(text)
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
        return cls(**data)


Handler = Callable[[Event], None]

#: Registered event types and the Pydantic model their payload must satisfy (``None``: free-form).
EVENT_SCHEMAS: dict[str, type[BaseModel] | None] = {}


def register_event_type(name: str, schema: type[BaseModel] | None = None) -> None:
    EVENT_SCHEMAS[name] = schema


def validate_event(event: Event) -> None:
    schema = EVENT_SCHEMAS.get(event.type)
    if schema is not None:
        schema.model_validate(event.payload)


class EventBus(Protocol):
    def publish(self, event: Event) -> None: ...

    def subscribe(self, event_type: str, handler: Handler, *, group: str) -> None: ...


class InProcessBus:
    """Synchronous dispatch in the publishing thread; a failing handler never fails the publisher."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[str, Handler]]] = defaultdict(list)
        self.failures: list[tuple[str, Event, BaseException]] = []

    def publish(self, event: Event) -> None:
        validate_event(event)
        for group, handler in list(self._handlers.get(event.type, ())) + list(
            self._handlers.get("*", ())
        ):
            try:
                with log_context(event_id=event.id, event_type=event.type, group=group):
                    handler(event)
            except Exception as exc:  # one consumer's bug must not stop the others
                log.exception("handler %s failed on %s %s", group, event.type, event.id)
                self.failures.append((group, event, exc))

    def subscribe(self, event_type: str, handler: Handler, *, group: str) -> None:
        self._handlers[event_type].append((group, handler))

    def clear(self) -> None:
        self._handlers.clear()
        self.failures.clear()


_bus: EventBus | None = None


def get_bus() -> EventBus:
    """The process's bus, chosen by ``BROKERCARE_BUS_URL`` (unset: in-process)."""
    global _bus
    if _bus is None:
        from brokercare.core.settings import get_settings

        url = get_settings().bus_url
        if url and url.startswith("redis"):
            from brokercare.core.bus_redis import RedisStreamBus

            _bus = RedisStreamBus(url)
        else:
            _bus = InProcessBus()
    return _bus


def set_bus(bus: EventBus | None) -> None:
    global _bus
    _bus = bus
