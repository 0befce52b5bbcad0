"""Evaluating live snapshots: the part the Redis workers and the embedded platform share.

:class:`ShardEvaluator` holds one shard's book and the day's market state, turns a
``quote.snapshot`` event into findings and writes them (alerts, margin calls, outbox rows and the
temperature) in one transaction with the event's id, so a snapshot is recorded once per consumer.
The Redis worker (``worker.py``) adds the stream, the restart warm-up and the sharding; on the
embedded default (no ``BROKERCARE_BUS_URL``) :func:`subscribe_in_process` puts a single-shard
:class:`ShardEvaluator` on the in-process bus, so each snapshot ``POST /market/quotes`` accepts is
evaluated right after its commit, by the same code and to the same alerts.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from brokercare.core.bus import Event, InProcessBus, get_bus
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import session_factory
from brokercare.core.service import mark_processed
from brokercare.market.events import POSITION_EVENT, SNAPSHOT_EVENT, payload_arrays
from brokercare.market.service import previous_closes
from brokercare.monitoring.alerts import record_snapshot
from brokercare.monitoring.book import load_book, load_universe, market_info
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.temperature import notable, snapshot_temperatures

log = logging.getLogger(__name__)

IN_PROCESS_CONSUMER = "monitor-live"


class ShardEvaluator:
    """One shard's book, the day's evaluator over it, and the writing of what it finds."""

    def __init__(self, sessions: sessionmaker, *, shard: int = 0, shards: int = 1,
                 consumer: str = IN_PROCESS_CONSUMER) -> None:
        if not 0 <= shard < shards:
            raise ValueError(f"shard must be in 0..{shards - 1}")
        self.sessions, self.shard, self.shards, self.consumer = sessions, shard, shards, consumer
        self.day: date | None = None
        self.snapshots = 0
        self.alerts = 0
        with sessions() as s:
            self.universe = load_universe(s)
            self.book = load_book(s, shard=shard, shards=shards, universe=self.universe)
        self.index = {u.symbol: k for k, u in enumerate(self.universe)}
        self.boards = np.array([u.board for u in self.universe], dtype=object)
        self.ev: Evaluator | None = None
        self.temperature: dict[str, str] = {}
        self._last_close: np.ndarray | None = None

    def _evaluate(self, event: Event):
        day = datetime.fromisoformat(event.payload["time"]).astimezone(SHANGHAI).date()
        if self.ev is None or day != self.day:
            if self.ev is not None:
                self._last_close = self.ev.last_price.copy()
            if self._last_close is None:  # first snapshot since start: the store's previous closes
                with self.sessions() as s:
                    self._last_close = previous_closes(s, [u.symbol for u in self.universe], day)
            self.day = day
            with self.sessions() as s:
                info = market_info(self.universe, day, self._last_close.copy(), session=s)
            self.ev = Evaluator(self.book, info)
        t, prices, volumes = payload_arrays(event.payload, self.index, len(self.universe))
        findings = self.ev.evaluate(Snapshot(t, prices, volumes))
        self.snapshots += 1
        temps = snapshot_temperatures(self.ev, self.boards, volumes, t)
        self.temperature = notable(temps)
        return findings, self.ev.last_price.copy(), temps

    def record(self, event: Event, evaluated) -> None:
        """Write one evaluated snapshot, once per consumer (the event id guards a redelivery)."""
        findings, prices, temps = evaluated
        session: Session = self.sessions()
        try:
            with session.begin():
                if mark_processed(session, self.consumer, event.id):
                    recorded = record_snapshot(
                        session, self.book, findings, prices, temps, self.boards,
                        # the market is the same for every shard: one writer of its temperature
                        store_temperature=self.shard == 0,
                    )
                    self.alerts += len(recorded.alerts)
        finally:
            session.close()

    def on_position(self, event: Event) -> None:
        p = event.payload
        row = self.book.row_of_account(int(p["account_id"]))
        col = self.index.get(p["symbol"])
        if row is None or col is None:
            return
        appended = self.book.set_position(row, col, float(p["quantity"]), float(p.get("cost_price") or 0))
        if appended and self.ev is not None:
            self.ev.grow()
        if "cash" in p:
            self.book.set_cash(row, float(p["cash"]))


class InProcessMonitor:
    """The embedded platform's evaluator, one snapshot at a time (requests arrive on many threads).
    The server loads the book when it starts (``preload``; at 1,000,000 accounts about 20 s, which
    inside the first snapshot's request would hold up the feed at the open); an app built with the
    warm-up off (tests) loads it on its first snapshot."""

    def __init__(self, sessions: sessionmaker | None = None) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self.shard: ShardEvaluator | None = None

    def _ready(self) -> ShardEvaluator:
        if self.shard is None:
            self.shard = ShardEvaluator(self._sessions or session_factory())
        return self.shard

    def preload(self) -> None:
        with self._lock:
            self._ready()

    def on_snapshot(self, event: Event) -> None:
        with self._lock:
            shard = self._ready()
            shard.record(event, shard._evaluate(event))

    def on_position(self, event: Event) -> None:
        with self._lock:
            if self.shard is not None:
                self.shard.on_position(event)


def subscribe_in_process(sessions: sessionmaker | None = None) -> InProcessMonitor | None:
    """Evaluate snapshots in this process when the bus is in-process; with Redis the sharded
    workers do it and this returns None."""
    bus = get_bus()
    if not isinstance(bus, InProcessBus):
        return None
    monitor = InProcessMonitor(sessions)
    bus.subscribe(SNAPSHOT_EVENT, monitor.on_snapshot, group=IN_PROCESS_CONSUMER)
    bus.subscribe(POSITION_EVENT, monitor.on_position, group=IN_PROCESS_CONSUMER)
    log.info("market snapshots are evaluated in this process (no Redis bus)")
    return monitor
