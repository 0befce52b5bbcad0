"""A minute of quotes travels the bus as one snapshot event and lands on each consumer's universe."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from brokercare.core.calendar import SHANGHAI
from brokercare.market.events import payload_arrays, snapshot_payload


def test_snapshot_lands_on_a_consumers_universe_with_missing_quotes_as_nan():
    at = datetime(2026, 3, 2, 9, 31, tzinfo=SHANGHAI)
    payload = snapshot_payload(at, ["600519.SH", "300750.SZ", "000001.SZ"],
                               np.array([1502.123456, np.nan, 10.5]), np.array([1200.0, 0.0, 88000.0]))
    assert payload["prices"] == [1502.1235, None, 10.5]  # NaN (no quote this minute) travels as null
    universe = {"000001.SZ": 0, "300750.SZ": 1, "600519.SH": 2, "688981.SH": 3}
    when, prices, volumes = payload_arrays(payload, universe, len(universe))
    assert when == at
    assert prices[0] == 10.5 and prices[2] == 1502.1235
    assert np.isnan(prices[1]) and np.isnan(prices[3])  # no quote, and not in the snapshot at all
    assert volumes.tolist() == [88000.0, 0.0, 1200.0, 0.0]
