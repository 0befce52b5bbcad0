"""The bank-transfer funnel from real transfers: accounts publishes each step as the customer
reaches it, the quality domain stores it and draws the funnel."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from tests.accounts.fake_bank import FakeBank
from tests.monitoring.brokerage import add_account, add_customer, add_instruments

from brokercare.accounts import transfers
from brokercare.accounts.banks import HttpBank
from brokercare.core.bus import get_bus
from brokercare.core.settings import reset_settings
from brokercare.quality import journeys
from brokercare.quality import service as quality
from brokercare.quality.models import JourneyStepRecord
from brokercare.security.service import get_cipher

TUESDAY_10AM = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)  # 10:00 Beijing, a trading day


@pytest.fixture
def icbc(monkeypatch):
    """The custody bank's gateway, answering on a local port."""
    with contextlib.closing(FakeBank()) as gateway:
        monkeypatch.setenv("BROKERCARE_BANK_URL", gateway.url)
        monkeypatch.setenv("BROKERCARE_BANK_TIMEOUT_S", "1")
        reset_settings()
        yield gateway


def test_a_transfer_in_arrives_and_a_transfer_out_waits_at_the_bank(session, icbc):
    add_instruments(session)
    customer = add_customer(session, 1)
    account = add_account(session, customer, cash="50000")
    account.bank_name = "工商银行"
    account.bank_card_enc = get_cipher(session).encrypt("6222021001123456789")
    session.commit()
    journeys.subscribe(get_bus())

    arriving = transfers.request_transfer(session, customer_id=customer.id, direction="in", amount="30000",
                                          idempotency_key="app-7f3a", now=TUESDAY_10AM)
    session.commit()
    transfers.send_transfer(session, arriving.transfer_no)
    session.commit()
    icbc.script = ["late"]  # the bank does not answer in time: the transfer stays with the bank
    waiting = transfers.request_transfer(session, customer_id=customer.id, direction="out", amount="20000",
                                         idempotency_key="app-91c0", now=TUESDAY_10AM)
    session.commit()
    transfers.send_transfer(session, waiting.transfer_no, bank=HttpBank(icbc.url, timeout=1))
    session.commit()

    steps = session.execute(select(JourneyStepRecord.ref, JourneyStepRecord.step)
                            .order_by(JourneyStepRecord.ref, JourneyStepRecord.step_no)).all()
    expected = ([(f"transfer:{arriving.transfer_no}", s) for s in ("started", "requested", "confirmed")]
                + [(f"transfer:{waiting.transfer_no}", s) for s in ("started", "requested", "sent")])
    assert steps == sorted(expected, key=lambda row: row[0])  # by transfer, each in step order
    start, end = quality.month_window("2026-06")
    f = next(f for f in quality.funnels(session, start, end) if f.journey == "bank_transfer")
    # the arrived transfer passed the bank too (a later step implies the earlier): half stop there
    assert f.steps["reached"].to_list() == [2, 2, 2, 1] and (f.started, f.completed) == (2, 1)
