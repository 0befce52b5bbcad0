"""The dispatcher inside the API process, for the embedded default (one machine, no services).

``brokercare serve`` sets ``BROKERCARE_DISPATCHER=embedded`` unless the environment says
otherwise; a deployment that runs ``brokercare outbox dispatch`` processes sets it to ``off``. The
dispatcher is asyncio code; it gets a thread and an event loop of its own so a slow gateway never
holds up a request. A transaction of this process that queues messages wakes it when it commits
(``service.on_queued``), so an alert recorded by the in-process evaluator leaves at once rather than
at the next idle poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from brokercare.core.database import session_factory
from brokercare.core.settings import get_settings
from brokercare.outbox.dispatcher import Dispatcher
from brokercare.outbox.service import on_queued

log = logging.getLogger(__name__)

#: Seconds the dispatcher sleeps when nothing is due and nothing was queued here meanwhile (a
#: message queued by another process, or one whose retry or quiet hours end, waits at most this).
IDLE_S = 0.5

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
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()

        def queued() -> None:  # called in the committing thread
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to wake
                loop.call_soon_threadsafe(wake.set)

        dispatcher = Dispatcher(session_factory())
        log.info("embedded outbox dispatcher started; channels configured: %s",
                 ", ".join(sorted(dispatcher.adapters)) or "none")
        unlisten = on_queued(queued)
        ready.set()
        try:
            await dispatcher.run(idle_s=IDLE_S, stop=_stop, wake=wake)
        finally:
            unlisten()
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
