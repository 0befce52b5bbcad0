"""Events about market data on the bus: a quote snapshot of the whole universe, a position change.

A snapshot travels as parallel lists (symbols, prices, volumes) rather than one record per
instrument, so one event carries a minute of 5,000+ quotes; :func:`payload_arrays` aligns it back
to a consumer's own universe.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from brokercare.core.bus import register_event_type

SNAPSHOT_EVENT = "quote.snapshot"
POSITION_EVENT = "position.changed"
register_event_type(SNAPSHOT_EVENT)
register_event_type(POSITION_EVENT)


def snapshot_payload(
    time: datetime, symbols: list[str], prices: np.ndarray, volumes: np.ndarray
) -> dict:
    """The ``quote.snapshot`` event payload (prices NaN -> null: no quote)."""
    return {
        "time": time.isoformat(),
        "symbols": list(symbols),
        "prices": [None if not np.isfinite(p) else round(float(p), 4) for p in prices],
        "volumes": [float(v) for v in volumes],
    }


def payload_arrays(
    payload: dict, index: dict[str, int], n: int
) -> tuple[datetime, np.ndarray, np.ndarray]:
    """Align a snapshot payload to a universe (symbols missing from the payload: no quote)."""
    prices = np.full(n, np.nan)
    volumes = np.zeros(n)
    for s, p, v in zip(payload["symbols"], payload["prices"], payload["volumes"], strict=True):
        k = index.get(s)
        if k is not None and p is not None:
            prices[k] = p
            volumes[k] = v
    return datetime.fromisoformat(payload["time"]), prices, volumes
