"""The dispatcher inside the API process, for the embedded default (one machine, no services).

``brokercare serve`` sets ``BROKERCARE_DISPATCHER=embedded`` unless the environment says
otherwise; a deployment that runs ``brokercare outbox dispatch`` processes sets it to ``off``. The
dispatcher is asyncio code; it gets a thread and an event loop of its own so a slow gateway never
holds up a request.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from brokercare.core.database import session_factory
from brokercare.core.settings import get_settings
from brokercare.outbox.dispatcher import Dispatcher

log = logging.getLogger(__name__)

_thread: threading.Thread | None = None
_loop: asyncio.AbstractEventLoop | None = None
_stop: asyncio.Event | None = None


def start_if_configured() -> bool:
    """Start the embedded dispatcher when the settings ask for it; True when it runs."""
    global _thread
    if get_settings().dispatcher != "embedded" or running():
        return running()
    ready = threading.Event()
    _thread = threading.Thread(target=_serve, args=(ready,), name="outbox-dispatcher", daemon=True)
    _thread.start()
    ready.wait(10)
    return running()


def _serve(ready: threading.Event) -> None:
    global _loop, _stop

    async def main() -> None:
        global _stop
        _stop = asyncio.Event()
        dispatcher = Dispatcher(session_factory())
        log.info("embedded outbox dispatcher started; channels configured: %s",
                 ", ".join(sorted(dispatcher.adapters)) or "none")
        ready.set()
        try:
            await dispatcher.run(stop=_stop)
        finally:
            await dispatcher.aclose()

    _loop = asyncio.new_event_loop()
    try:
        _loop.run_until_complete(main())
    finally:
        _loop.close()
        ready.set()


def running() -> bool:
    return _thread is not None and _thread.is_alive()


def stop(timeout: float = 15.0) -> None:
    """Let the batch in flight finish and record its outcomes, then stop."""
    global _thread
    if _thread is None:
        return
    if _loop is not None and _stop is not None and not _loop.is_closed():
        _loop.call_soon_threadsafe(_stop.set)
    _thread.join(timeout)
    _thread = None
