"""Prometheus metrics for operators (``GET /metrics``).

Two kinds of figure. Work done inside a process (a snapshot evaluated, a job run, a message sent)
is counted by the instruments below; under ``PROMETHEUS_MULTIPROC_DIR`` (several API workers,
``docs/deployment.md``) every process writes its own file and a scrape sums them. State that all
processes share (outbox depth, each job's last success, quote lag) is read from the database at
scrape time by each domain's ``health.py`` ``metrics(session, now)``, so any process answers the
same and a process that restarted loses nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from brokercare.core.database import session_scope, utcnow
from brokercare.core.domains import domain_modules

CONTENT_TYPE = CONTENT_TYPE_LATEST

SNAPSHOT_EVALUATION = Histogram(
    "brokercare_snapshot_evaluation_seconds",
    "Time to evaluate one market snapshot against every holder's alert rules and margin lines.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
JOB_DURATION = Histogram(
    "brokercare_job_duration_seconds", "Duration of a scheduled job's run in this process.",
    ["job", "status"], buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600))
OUTBOX_SENDS = Counter(
    "brokercare_outbox_sends", "Requests the dispatcher made to a channel's gateway, by outcome.",
    ["channel", "outcome"])
MESSAGES_WAITING = Gauge(
    "brokercare_messages_waiting", "Inbound customer messages waiting in this process's intake.",
    multiprocess_mode="livesum")


class DomainStateCollector(Collector):
    """Gauges each domain reads from the database when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        with session_scope() as session:
            for module in domain_modules("health"):
                metrics = getattr(module, "metrics", None)
                if metrics is not None:
                    yield from metrics(session, now)

    def describe(self) -> Iterable:
        return ()  # read at scrape time only: never touch the database at registration


def exposition() -> bytes:
    """The text format for ``GET /metrics``."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
        registry.register(DomainStateCollector())
        return generate_latest(registry)
    registry.register(_ProcessLocal())
    registry.register(DomainStateCollector())
    return generate_latest(registry)


class _ProcessLocal(Collector):
    """The default registry's instruments (this process's work, its CPU and memory)."""

    def collect(self) -> Iterator:
        yield from REGISTRY.collect()

    def describe(self) -> Iterable:
        return ()
