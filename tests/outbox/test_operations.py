"""The outbox as operators run it: the API process sends on the embedded default, and /health and
/metrics say when messages wait with nobody sending them."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from tests.outbox.test_dispatch import sms, states

from brokercare.api import create_app
from brokercare.core.database import utcnow
from brokercare.core.settings import reset_settings
from brokercare.outbox.models import OutboxMessage


def gauge(text: str, name: str) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name}


def test_the_api_process_sends_on_the_embedded_default(session, people, channels, monkeypatch):
    monkeypatch.setenv("BROKERCARE_DISPATCHER", "embedded")
    reset_settings()
    with TestClient(create_app()) as client:
        for n in range(5):
            sms(session, people[n % 3], n)
        session.commit()
        deadline = time.monotonic() + 30
        while states(session) != {"sent": 5} and time.monotonic() < deadline:
            time.sleep(0.05)
        metrics = client.get("/metrics").text
    assert states(session) == {"sent": 5} and len(channels.deliveries) == 5
    sends = gauge(metrics, "brokercare_outbox_sends_total")
    assert sends[(("channel", "sms"), ("outcome", "sent"))] >= 5


def test_health_and_metrics_say_messages_wait_with_nobody_sending(session, people, channels,
                                                                  monkeypatch):
    monkeypatch.setenv("BROKERCARE_DISPATCHER", "off")
    monkeypatch.delenv("BROKERCARE_PUSH_URL")  # app push not configured: its messages are held
    reset_settings()
    for n in range(3):
        sms(session, people[n], n)
    sms(session, people[0], 9, channel="app")
    session.commit()
    session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(minutes=10)))
    session.commit()
    with TestClient(create_app()) as client:
        health = client.get("/health").json()
        metrics = client.get("/metrics").text
    assert health["status"] == "warn" and not health["ok"]
    assert any("sms messages due for 10 min are not sent: is a dispatcher running?" in w
               for w in health["warnings"]), health["warnings"]
    assert any("1 app message(s) held, the channel is not configured (set BROKERCARE_PUSH_URL)" in w
               for w in health["warnings"]), health["warnings"]
    depth = gauge(metrics, "brokercare_outbox_messages")
    assert depth[(("channel", "sms"), ("state", "pending"))] == 3
    assert depth[(("channel", "app"), ("state", "pending"))] == 1
    assert gauge(metrics, "brokercare_outbox_oldest_due_seconds")[(("channel", "sms"),)] >= 600
    assert not channels.deliveries
