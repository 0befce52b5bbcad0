"""A routing worker process for the consumer-kill test: consumes ``message.received`` from Redis
Streams with the real routing handler and dies abruptly (``os._exit``) right after the N-th
handler committed, before the bus could acknowledge it — the worst moment for a crash."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    db_url, search_path, redis_url, prefix, name, crash_after = sys.argv[1:7]
    from brokercare.core.bus_redis import RedisStreamBus
    from brokercare.core.database import make_engine, set_engine
    from brokercare.service.service import (
        MESSAGE_RECEIVED,
        ROUTING_CONSUMER,
        handle_message_received,
    )

    # The scripted assistant of the other hub tests: this test is about delivery, not language.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.service.fakes import ScriptedAssistant

    from brokercare.service import assistant

    assistant.wire(ScriptedAssistant())
    kwargs = {"connect_args": {"options": f"-csearch_path={search_path}"}} if search_path != "-" else {}
    set_engine(make_engine(db_url, **kwargs))
    handled = 0
    limit = int(crash_after)

    def handler(event):
        nonlocal handled
        handle_message_received(event)
        handled += 1
        print(f"handled {event.payload['message_id']}", flush=True)
        if handled == limit:
            os._exit(9)  # committed, not acknowledged

    bus = RedisStreamBus(redis_url, prefix=prefix, consumer=name, batch_size=10, block_ms=200)
    bus.subscribe(MESSAGE_RECEIVED, handler, group=ROUTING_CONSUMER)
    bus.drain(timeout_s=120)


if __name__ == "__main__":
    main()
