"""The embedded dispatcher is woken by the commit that queued a message: an alert recorded by the
in-process evaluator leaves at once, not at the dispatcher's next idle poll."""

from __future__ import annotations

import time

from tests.outbox.test_dispatch import sms, states

from brokercare.core.settings import reset_settings
from brokercare.outbox import embedded, service


def test_a_commit_that_queued_messages_is_announced_once_a_rollback_or_a_duplicate_is_not(session, people):
    calls: list[int] = []
    remove = service.on_queued(lambda: calls.append(1))
    try:
        sms(session, people[0], 1)
        assert calls == []  # not before the commit: the dispatcher could not see the row yet
        session.commit()
        assert calls == [1]
        sms(session, people[0], 1)  # the same key again: nothing new queued
        session.commit()
        sms(session, people[1], 2)
        session.rollback()
        session.commit()
        assert calls == [1]
        with session.begin_nested():
            sms(session, people[1], 3)
        assert calls == [1]  # a released savepoint is not the commit
        session.commit()
        assert calls == [1, 1]
    finally:
        remove()
    sms(session, people[2], 4)
    session.commit()
    assert calls == [1, 1]


def test_the_embedded_dispatcher_sends_a_message_on_its_commit_not_at_its_next_poll(
        session, people, channels, monkeypatch):
    monkeypatch.setenv("BROKERCARE_DISPATCHER", "embedded")
    monkeypatch.setattr(embedded, "IDLE_S", 600.0)  # only the wake-up can explain a delivery
    reset_settings()
    assert embedded.start_if_configured()
    try:
        time.sleep(1.0)  # its first pass finds nothing due; it now sleeps
        sms(session, people[0], 1)
        session.commit()
        deadline = time.monotonic() + 60
        while states(session) != {"sent": 1} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert states(session) == {"sent": 1}
        assert len(channels.deliveries) == 1
    finally:
        embedded.stop()
