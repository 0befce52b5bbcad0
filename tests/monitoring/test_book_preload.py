"""The embedded server loads the holdings book when it starts, not inside the first quote snapshot's
request (at 1,000,000 accounts that load takes about 20 s and would hold up the feed at the open)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from tests.monitoring.brokerage import small_brokerage

from brokercare.core import bus as bus_module
from brokercare.core.settings import reset_settings
from brokercare.monitoring import live, views


@pytest.fixture
def started(engine, monkeypatch):
    """Run the monitoring domain's start-up as the server does, keeping the monitor it subscribes."""
    with Session(engine) as s:
        made = small_brokerage(s, 10)
        s.commit()
    monitors = []

    def subscribe(sessions=None):
        monitors.append(live.subscribe_in_process(sessions))
        return monitors[-1]

    monkeypatch.setattr(views, "subscribe_in_process", subscribe)
    bus_module.set_bus(None)  # the embedded default: the in-process bus

    def start(warm_up: bool) -> live.InProcessMonitor:
        monkeypatch.setenv("BROKERCARE_WARM_UP", "true" if warm_up else "false")
        reset_settings()
        views.startup()
        return monitors[-1]

    yield start, made
    bus_module.set_bus(None)
    reset_settings()


def test_the_server_loads_the_book_before_it_takes_traffic(started):
    start, made = started
    monitor = start(warm_up=True)
    assert monitor.shard is not None
    # every account of the brokerage is in the book: 10 cash accounts and the margin accounts
    assert len(monitor.shard.book.account_ids) == len(made["customers"]) + len(made["margin"])


def test_with_the_warm_up_off_the_book_waits_for_the_first_snapshot(started):
    start, _made = started
    monitor = start(warm_up=False)
    assert monitor.shard is None
