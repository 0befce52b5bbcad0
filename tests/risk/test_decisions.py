"""What the risk desk expects of the detector, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.risk.conftest import BEIJING_IPS, CARD, GUANGZHOU_IPS, PHONE, SHANGHAI_IPS

from brokercare.core.errors import PermissionDenied
from brokercare.ledger.models import LedgerEntry
from brokercare.risk import cases, service, stepup
from brokercare.risk.models import RiskCase


def test_a_login_from_guangzhou_ten_minutes_after_one_from_beijing_asks_for_the_second_factor(session, desk):
    cid = desk.customer.id
    home = service.assess_login(session, customer_id=cid, ip=BEIJING_IPS[1], device_id=PHONE, at=desk.now)
    away = service.assess_login(session, customer_id=cid, ip=GUANGZHOU_IPS[0], device_id=PHONE,
                                at=desk.now + timedelta(minutes=10))
    session.commit()
    assert home.action == "allow"
    assert away.action == "step_up"
    assert "impossible_travel" in [r.code for r in away.reasons]
    assert "广州" in away.message and "北京" in away.message and "10分钟" in away.message
    assert "短信验证码" in away.message
    # An ordinary trip is no alarm: the same customer in 上海 two days later is new, not impossible.
    trip = service.assess_login(session, customer_id=cid, ip=SHANGHAI_IPS[0], device_id=PHONE,
                                at=desk.now + timedelta(days=2))
    assert trip.action == "allow"


def test_a_transfer_far_above_the_baseline_to_a_new_card_is_held(session, desk):
    cid = desk.customer.id
    usual = service.assess_transfer_out(session, customer_id=cid, amount=Decimal("21000"), card_token=CARD,
                                        ip=BEIJING_IPS[0], device_id=PHONE, at=desk.now)
    big = service.assess_transfer_out(session, customer_id=cid, amount=Decimal("480000"), card_token="card-new-9d1e",
                                      ip=BEIJING_IPS[0], device_id=PHONE, at=desk.now + timedelta(hours=1))
    session.commit()
    assert usual.action == "allow"
    assert big.action == "hold"
    assert {"amount_high", "new_card"} <= {r.code for r in big.reasons}
    assert "48.00万元" in big.message and "风控专员" in big.message
    status = service.customer_status(session, cid)
    assert not status.frozen and [m.kind for m in status.measures] == ["hold"]
    assert session.get(RiskCase, big.case_id).status == "open"


def test_the_desk_releases_a_hold_with_a_reason_and_it_is_ledgered(session, desk):
    cid = desk.customer.id
    held = service.assess_transfer_out(session, customer_id=cid, amount=Decimal("500000"), card_token="card-new-9d1e",
                                       ip=BEIJING_IPS[0], device_id=PHONE, at=desk.now)
    session.commit()
    with pytest.raises(Exception, match="reason"):
        cases.release_hold(session, held.measure_id, actor_id=1, reason="  ")
    released = cases.release_hold(session, held.measure_id, actor_id=1, reason="电话回访本人确认，购房首付款")
    session.commit()
    assert released.status == "released" and released.resolved_by == 1
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "risk.hold_released")).one()
    assert "电话回访本人确认" in entry.body and f"customer:{cid}" == entry.subject
    decided = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "risk.decided")).all()
    assert len(decided) >= 80  # every decision of the history, allow included
    timeline = cases.case_detail(session, held.case_id).timeline
    assert [i.what for i in timeline].count("note") == 1
    assert any("购房首付款" in i.detail for i in timeline)
    with pytest.raises(Exception, match="already released"):
        cases.reject_hold(session, held.measure_id, actor_id=1, reason="重复操作")


def test_many_accounts_from_one_ip_in_minutes_are_flagged_as_credential_stuffing(session, desk):
    attacker = "45.135.232.17"
    results = []
    for k in range(12):
        results.append(service.assess_login_failure(
            session, customer_id=1000 + k, ip=attacker, device_id="Android-bot-01",
            at=desk.now + timedelta(seconds=20 * k)))
    hit = service.assess_login(session, customer_id=desk.customer.id, ip=attacker, device_id="Android-bot-01",
                               at=desk.now + timedelta(minutes=4, seconds=30))
    session.commit()
    assert results[0].action == "allow"  # one wrong password is no pattern
    assert all("credential_stuffing" in [r.code for r in a.reasons] for a in results[3:])
    assert hit.action in ("step_up", "freeze") and "撞库" in hit.message
    case = session.scalars(select(RiskCase).where(RiskCase.subject == f"ip:{attacker}")).one()
    assert case.kind == "credential_stuffing"
    assert len([i for i in cases.case_detail(session, case.id).timeline if i.what == "event"]) >= 10


def test_a_frozen_customer_can_still_log_in_and_read_why_but_cannot_transfer(session, desk):
    cid = desk.customer.id
    cases.freeze(session, cid, actor_id=1, reason="客户来电称手机丢失")
    session.commit()
    login = service.assess_login(session, customer_id=cid, ip=BEIJING_IPS[2], device_id=PHONE, at=desk.now)
    assert login.action == "allow"
    status = service.customer_status(session, cid)
    assert status.frozen and not status.may_transfer_out
    assert "客户来电称手机丢失" in status.message and "身份证" in status.message
    with pytest.raises(PermissionDenied, match="手机丢失"):
        service.ensure_may_transfer_out(session, cid)
    out = service.assess_transfer_out(session, customer_id=cid, amount=Decimal("1000"), card_token=CARD,
                                      ip=BEIJING_IPS[0], device_id=PHONE, at=desk.now + timedelta(minutes=5))
    assert out.action == "freeze" and "account_frozen" in [r.code for r in out.reasons]
    frozen = service.active_freeze(session, cid)
    cases.lift_freeze(session, frozen.id, actor_id=1, reason="营业部柜台核验身份证后解除")
    session.commit()
    assert service.customer_status(session, cid).may_transfer_out


def test_the_second_factor_by_sms_lets_the_customer_in_and_teaches_the_baseline(session, desk):
    cid, sent = desk.customer.id, []
    stepup.set_sms_sender(lambda _session, customer_id, text: sent.append((customer_id, text)))
    try:
        new_phone = "HUAWEI-Mate60-41be"
        first = service.assess_login(session, customer_id=cid, ip=SHANGHAI_IPS[1], device_id=new_phone, at=desk.now)
        assert first.action == "step_up"
        challenge = stepup.start(session, measure_id=first.measure_id, customer_id=cid, method="sms")
        code = re.search(r"\d{6}", sent[-1][1]).group()
        assert sent[-1][0] == cid and code.isdigit()
        wrong = "000000" if code != "000000" else "111111"
        assert not stepup.verify(session, challenge_id=challenge.challenge_id, customer_id=cid, code=wrong).passed
        assert stepup.verify(session, challenge_id=challenge.challenge_id, customer_id=cid, code=code).passed
        session.commit()
        again = service.assess_login(session, customer_id=cid, ip=SHANGHAI_IPS[2], device_id=new_phone,
                                     at=desk.now + timedelta(hours=3))
        assert again.action == "allow"  # the verified phone and city are now the customer's own
    finally:
        stepup.set_sms_sender(None)


def test_a_replayed_event_is_decided_once(session, desk):
    cid = desk.customer.id
    first = service.assess_login(session, customer_id=cid, ip=GUANGZHOU_IPS[1], device_id="PC-Win11-x",
                                 at=desk.now, event_id="login-7781")
    again = service.assess_login(session, customer_id=cid, ip=GUANGZHOU_IPS[1], device_id="PC-Win11-x",
                                 at=desk.now, event_id="login-7781")
    assert again.duplicate and again.action == first.action and again.measure_id == first.measure_id


def test_the_sms_code_leaves_through_the_outbox_with_the_challenge(session, desk):
    """The API's start-up registers the outbox's SMS channel; the code is queued in the challenge's
    transaction, urgent (quiet hours do not hold it) and expiring with the code."""
    from brokercare.outbox import views as outbox_views
    from brokercare.outbox.models import OutboxMessage

    cid = desk.customer.id
    outbox_views.startup()
    try:
        first = service.assess_login(session, customer_id=cid, ip=SHANGHAI_IPS[1],
                                     device_id="OPPO-FindX7-9c2e", at=desk.now)
        assert first.action == "step_up"
        stepup.start(session, measure_id=first.measure_id, customer_id=cid, method="sms")
        session.commit()
        sms = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "verification_code"))
        assert sms.channel == "sms" and sms.urgent and sms.customer_id == cid and sms.origin == "risk"
        assert re.search(r"您的验证码为\d{6}，5分钟内有效", sms.body)
        assert 0 < (sms.expires_at - sms.created_at).total_seconds() <= 300
    finally:
        stepup.set_sms_sender(None)
