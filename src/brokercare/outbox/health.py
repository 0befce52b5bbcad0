"""The outbox for operators: depth and failures per channel, and a dispatcher that fell behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session

from brokercare.outbox.service import summary

# A due message waiting longer than this on a configured channel: no dispatcher keeps up.
STALE_AFTER_S = 120.0


def warnings(session: Session, now: datetime) -> list[str]:
    out = []
    for c in summary(session, now=now):
        waiting = c.counts.get("pending", 0) + c.counts.get("failed", 0)
        if not c.configured and waiting:
            out.append(f"outbox: {waiting} {c.channel} message(s) held, the channel is not "
                       f"configured (set {c.setting})")
        elif c.oldest_due_s is not None and c.oldest_due_s > STALE_AFTER_S:
            out.append(f"outbox: {c.channel} messages due for {c.oldest_due_s / 60:.0f} min are not "
                       "sent: is a dispatcher running? (BROKERCARE_DISPATCHER=embedded or "
                       "`brokercare outbox dispatch`)")
    return out


def metrics(session: Session, now: datetime) -> Iterator[GaugeMetricFamily]:
    depth = GaugeMetricFamily("brokercare_outbox_messages",
                              "Outbound messages not yet sent, by channel and state (dead included).",
                              labels=["channel", "state"])
    oldest = GaugeMetricFamily("brokercare_outbox_oldest_due_seconds",
                               "How long the oldest due message of a channel has waited.",
                               labels=["channel"])
    for c in summary(session, now=now):
        for state, n in sorted(c.counts.items()):
            depth.add_metric([c.channel, state], float(n))
        oldest.add_metric([c.channel], c.oldest_due_s or 0.0)
    yield from (depth, oldest)
