"""The intake of customers' messages in a server process: requests queue, a few worker threads
take whatever is waiting as one batch (group commit).

A message costs the hub a transaction, a write lock, a ledger head update, a commit and a call of
the models; a batch of messages that arrived together shares each of those once
(:func:`brokercare.service.conversations.receive_many`). Nothing waits for a batch to fill: a
worker that frees up takes what is queued at that moment, so a lone message goes at once, alone,
and under load the batches grow with the queue — the latency stays about two batch times.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio


class Intake:
    """Queue of ``items`` served by at most ``workers`` threads, each calling ``handle(batch)``
    with up to ``max_batch`` items and getting back one result (or exception) per item.

    At most ``limit`` items wait: beyond that :meth:`submit` raises ``full()`` at once (a 503 with
    Retry-After), because an overloaded server that queues without bound makes every customer
    wait, where refusing the excess keeps the answered ones fast and lets the client retry."""

    def __init__(self, handle: Callable[[list[Any]], list[Any]], *, workers: int, max_batch: int,
                 limit: int = 10_000, full: Callable[[], Exception] = lambda: OverflowError("intake full")) -> None:
        self.handle, self.workers, self.max_batch = handle, workers, max_batch
        self.limit, self.full = limit, full
        self._waiting: deque[tuple[Any, asyncio.Future]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, item: Any) -> Any:
        """The result of ``item``'s batch for ``item``; its exception is raised here."""
        if len(self._waiting) >= self.limit:
            raise self.full()
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._running < self.workers:
            self._running += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
                try:
                    results = await anyio.to_thread.run_sync(self.handle, [item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - the whole batch failed: each sender hears it
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the client went away
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._running -= 1
