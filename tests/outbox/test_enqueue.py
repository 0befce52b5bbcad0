"""Enqueueing: in the caller's transaction, once per idempotency key, addresses sealed at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from brokercare.core.errors import ValidationFailed
from brokercare.outbox import service
from brokercare.outbox.models import OutboxMessage
from brokercare.outbox.schemas import NewMessage


def test_same_key_twice_is_one_message(session, people):
    wang = people[0]
    first = service.enqueue(session, channel="sms", kind="margin_call", customer_id=wang.id,
                            body="您的信用账户维持担保比例已低于 130%，请于今日收市前补足担保物。",
                            idempotency_key="margin_call:88:warning", origin="monitoring",
                            origin_ref="margin_call:88", urgent=True)
    again = service.enqueue(session, channel="sms", kind="margin_call", customer_id=wang.id,
                            body="重复的内容不会再发一次", idempotency_key="margin_call:88:warning",
                            origin="monitoring")
    session.commit()
    assert first.created and not again.created and again.id == first.id
    rows = session.scalars(select(OutboxMessage)).all()
    assert len(rows) == 1 and rows[0].body.startswith("您的信用账户") and rows[0].state == "pending"


def test_message_exists_only_if_the_callers_write_commits(session, people):
    service.enqueue(session, channel="app", kind="reply", customer_id=people[1].id,
                    body="您好，您咨询的转账问题已处理完毕。", idempotency_key="reply:1",
                    origin="service", origin_ref="message:1")
    session.rollback()
    assert session.scalar(select(OutboxMessage.id)) is None
    service.enqueue(session, channel="app", kind="reply", customer_id=people[1].id,
                    body="您好，您咨询的转账问题已处理完毕。", idempotency_key="reply:1",
                    origin="service", origin_ref="message:1")
    session.commit()
    assert session.scalar(select(OutboxMessage.origin_ref)) == "message:1"


def test_explicit_address_is_encrypted_and_masked(session):
    service.enqueue(session, channel="sms", kind="reply", address="13700001111",
                    body="【回复】您预约的开户见证已确认，时间为周三上午十点。",
                    idempotency_key="reply:prospect:7", origin="service")
    session.commit()
    raw = session.execute(text("SELECT address_enc, address_hint FROM outbox_messages")).one()
    assert "13700001111" not in raw.address_enc
    assert raw.address_hint == "137****1111"


@pytest.mark.parametrize("fields, message", [
    (dict(channel="sms", body="您好"), "customer_id or an address"),
    (dict(channel="email", customer_id=1, body="您好"), "needs a subject"),
    (dict(channel="fax", customer_id=1, body="您好"), "channel"),
    (dict(channel="sms", address="不是号码", body="您好"), "not a phone number"),
    (dict(channel="email", address="wang.at.163.com", subject="通知", body="您好"), "e-mail address"),
    (dict(channel="sms", customer_id=1, body=""), "body"),
])
def test_bad_messages_are_refused_and_nothing_is_written(session, fields, message):
    with pytest.raises(ValidationFailed, match=message):
        service.enqueue(session, kind="notice", idempotency_key="bad:1", origin="service", **fields)
    session.commit()
    assert session.scalar(select(OutboxMessage.id)) is None


def test_enqueue_many_answers_in_order_and_skips_known_keys(session, people):
    batch = [NewMessage(channel="app", kind="move_down", customer_id=p.id, origin="monitoring",
                        body=f"{p.name}，您持有的贵州茅台下跌 7.0%", idempotency_key=f"alert:{p.id}")
             for p in people]
    first = service.enqueue_many(session, batch)
    second = service.enqueue_many(session, batch[1:] + [NewMessage(
        channel="wechat", kind="digest", customer_id=people[0].id, origin="monitoring",
        body="您有 3 条持仓提醒", idempotency_key="digest:1")])
    session.commit()
    assert [q.created for q in first] == [True, True, True]
    assert [q.created for q in second] == [False, False, True]
    assert [q.id for q in second[:2]] == [q.id for q in first[1:]]
    assert session.scalar(select(text("count(*)")).select_from(OutboxMessage)) == 4


def test_recent_counts_count_each_thing_once_across_channels(session, people):
    wang, li = people[0], people[1]
    for alert, channels, urgent in ((1, ("app", "sms"), False), (2, ("app",), False), (3, ("sms",), True)):
        service.enqueue_many(session, [NewMessage(
            channel=c, kind="move_down", customer_id=wang.id, origin="monitoring",
            origin_ref=f"alert:{alert}", idempotency_key=f"alert:{alert}:{c}", urgent=urgent,
            body="您持有的贵州茅台下跌 7.0%") for c in channels])
    service.enqueue(session, channel="app", kind="reply", customer_id=li.id, origin="service",
                    origin_ref="message:9", idempotency_key="reply:9", body="您好")
    session.commit()
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    ids = [wang.id, li.id]
    assert service.recent_counts(session, origin="monitoring", customer_ids=ids, since=hour_ago) == {wang.id: 2}
    assert service.recent_counts(session, origin="monitoring", customer_ids=ids, since=hour_ago,
                                 include_urgent=True) == {wang.id: 3}
    assert service.recent_counts(session, origin="monitoring", customer_ids=ids,
                                 since=datetime.now(UTC) + timedelta(minutes=1)) == {}
