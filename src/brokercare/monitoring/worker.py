"""A monitoring worker: one shard of the accounts, fed by Redis Streams.

Every shard reads every ``quote.snapshot`` (its own consumer group ``monitor-<k>``) and the
``position.changed`` events of its own accounts (partition ``k`` of that partitioned type). Each
snapshot is evaluated against the shard's book, and its alerts, margin calls and outbox rows are
written in one transaction together with the snapshot's event id; the stream entry is
acknowledged only after that commit.

Restart. The consumer name is fixed per shard, so a restarted worker first re-reads the entries
it had been given. Before that it rebuilds its market state by re-evaluating, without writing,
the day's snapshots it had already committed (their ids are in ``processed_events``), so windows
and de-duplication are exactly where they were: no alert is repeated and none is missed.

    python -m brokercare.monitoring.worker --shard 0 --shards 2 [--bus-url redis://...] [--prefix brokercare:]
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from brokercare.core import logs
from brokercare.core.bus import Event
from brokercare.core.bus_redis import RedisStreamBus
from brokercare.core.database import session_factory
from brokercare.core.domains import load_all_models
from brokercare.core.models import ProcessedEvent
from brokercare.core.settings import get_settings
from brokercare.market.events import POSITION_EVENT, SNAPSHOT_EVENT
from brokercare.monitoring.live import ShardEvaluator

log = logging.getLogger(__name__)


class MonitorWorker(ShardEvaluator):
    def __init__(
        self, bus: RedisStreamBus, shard: int, shards: int, sessions: sessionmaker
    ) -> None:
        super().__init__(sessions, shard=shard, shards=shards, consumer=f"monitor-{shard}")
        self.bus = bus
        self._unwritten: dict[str, tuple] = {}
        self._warmed: set[str] = set()

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        warmed = self.warm_up()
        if warmed:
            log.info("%s: market state rebuilt from %d committed snapshots", self.consumer, warmed)
        self.bus.subscribe(SNAPSHOT_EVENT, self.on_snapshot, group=self.consumer)
        if self.bus.partitions.get(POSITION_EVENT):
            self.bus.subscribe(
                POSITION_EVENT, self.on_position, group="monitor", partitions=[self.shard]
            )

    def warm_up(self) -> int:
        """Re-evaluate (without writing) the snapshots this shard committed before a restart."""
        with self.sessions() as s:
            done = set(
                s.scalars(
                    select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == self.consumer)
                )
            )
        if not done:
            return 0
        stream = self.bus.stream_name(SNAPSHOT_EVENT)
        fed, last = 0, "-"
        while True:
            entries = self.bus.redis.xrange(stream, min=last, count=500)
            if last != "-":
                entries = entries[1:]
            if not entries:
                break
            for _entry_id, fields in entries:
                event = Event.from_json(fields["event"])
                if event.id not in done:
                    return fed
                self._evaluate(event)
                self._warmed.add(event.id)
                fed += 1
            last = entries[-1][0]
        return fed

    # handlers ---------------------------------------------------------------------------------
    def on_snapshot(self, event: Event) -> None:
        if event.id in self._warmed:  # committed before the restart, only the ack was missing
            return
        if event.id in self._unwritten:
            findings, prices, temps = self._unwritten[event.id]
        else:
            findings, prices, temps = self._evaluate(event)
            self._unwritten[event.id] = (findings, prices, temps)
        self.record(event, (findings, prices, temps))
        del self._unwritten[event.id]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shard", type=int, required=True)
    ap.add_argument("--shards", type=int, required=True)
    ap.add_argument("--bus-url", default=None)
    ap.add_argument("--prefix", default="brokercare:")
    ap.add_argument("--min-idle-ms", type=int, default=30_000)
    args = ap.parse_args(argv)
    logs.configure(logging.INFO)
    load_all_models()

    url = args.bus_url or get_settings().bus_url
    if not url:
        raise SystemExit("set --bus-url or BROKERCARE_BUS_URL to a redis:// URL")
    bus = RedisStreamBus(
        url,
        prefix=args.prefix,
        partitions={POSITION_EVENT: args.shards},
        consumer=f"monitor-{args.shard}",
        min_idle_ms=args.min_idle_ms,
        block_ms=200,
    )
    worker = MonitorWorker(bus, args.shard, args.shards, session_factory())
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info(
        "monitor shard %d/%d: %d accounts, %d positions",
        args.shard,
        args.shards,
        len(worker.book.account_ids),
        len(worker.book.qty),
    )
    bus.run(stop)


if __name__ == "__main__":
    main()
