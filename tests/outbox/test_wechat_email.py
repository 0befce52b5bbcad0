"""WeChat customer-service messages against a local fake of the Official Account API, and e-mail
through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from sqlalchemy import select
from tests.outbox.gateways import SmtpServer, free_port
from tests.outbox.test_dispatch import drain, states

from brokercare.core.settings import reset_settings
from brokercare.outbox import service
from brokercare.outbox.adapters import message_id_for
from brokercare.outbox.models import OutboxMessage


def wechat(session, person, n, **extra):
    return service.enqueue(session, channel="wechat", kind="reply", customer_id=person.id,
                           body=f"{person.name}您好，您的融资融券开户申请已受理（{n}）。",
                           idempotency_key=f"reply:wechat:{person.id}:{n}", origin="service",
                           origin_ref=f"message:{n}", **extra)


def test_wechat_token_is_cached_and_refreshed_when_invalid(session, sessions, people, channels):
    wang, li = people[0], people[1]
    for n in range(5):
        wechat(session, wang if n % 2 else li, n)
    session.commit()
    service.dispatch_due(sessions)
    assert states(session) == {"sent": 5}
    assert channels.tokens_issued == 1
    sent = channels.delivered
    assert {m["touser"] for m in sent.values()} == {wang.openid, li.openid}
    assert all(m["msgtype"] == "text" and "开户申请已受理" in m["text"]["content"] for m in sent.values())

    channels.expire_tokens()  # WeChat revoked the token (40001): fetch a new one once, then send
    wechat(session, wang, 9)
    session.commit()
    assert service.dispatch_due(sessions)["sent"] == 1
    assert channels.tokens_issued == 2 and len(channels.deliveries) == 6


def test_concurrent_sends_share_one_token_refresh(session, sessions, people, channels):
    for n in range(12):
        wechat(session, people[n % 2], n)
    session.commit()
    assert service.dispatch_due(sessions, limit=1)["sent"] == 1
    channels.expire_tokens()
    assert service.dispatch_due(sessions)["sent"] == 11
    assert channels.tokens_issued == 2  # not one forced refresh per message


def test_outside_48_hours_a_template_message_goes(session, sessions, people, channels, monkeypatch):
    wang, li = people[0], people[1]
    channels.configure(stale=[wang.openid, li.openid])
    wechat(session, wang, 1, subject="业务办理通知")
    session.commit()
    service.dispatch_due(sessions)  # no template configured: WeChat's refusal is final
    view = service.list_messages(session)[0]
    assert view.state == "dead" and "45015" in view.last_error

    monkeypatch.setenv("BROKERCARE_WECHAT_TEMPLATE_ID", "TPL-biz-notice-01")
    reset_settings()
    wechat(session, li, 2, subject="业务办理通知")
    session.commit()
    assert service.dispatch_due(sessions)["sent"] == 1
    [sent] = channels.delivered.values()
    assert sent["path"] == "wechat-template" and sent["template_id"] == "TPL-biz-notice-01"
    assert sent["data"]["first"]["value"] == "业务办理通知"
    assert "开户申请已受理" in sent["data"]["keyword1"]["value"]


def test_wechat_unsubscribed_user_is_dead_at_once(session, sessions, people, channels):
    channels.configure(unsubscribed=[people[0].openid])
    wechat(session, people[0], 1)
    session.commit()
    service.dispatch_due(sessions)
    row = session.scalars(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.state == "dead" and row.attempts == 1 and "43004" in row.last_error


def test_wechat_wrong_secret_retries_with_a_clear_error(session, sessions, people, channels, monkeypatch):
    monkeypatch.setenv("BROKERCARE_WECHAT_SECRET", "wrong")
    reset_settings()
    wechat(session, people[0], 1)
    session.commit()
    assert service.dispatch_due(sessions, limit=1)["retrying"] == 1  # one pass
    view = service.list_messages(session)[0]
    assert view.state == "failed" and "40013" in view.last_error and "access token" in view.last_error


def email_env(monkeypatch, port):
    monkeypatch.setenv("BROKERCARE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("BROKERCARE_SMTP_FROM", "华信证券客服 <service@huaxin-sec.example>")
    monkeypatch.setenv("BROKERCARE_OUTBOX_TIMEOUT_S", "2")
    monkeypatch.setenv("BROKERCARE_OUTBOX_BACKOFF_S", "1")  # retried after 0.5-1 s
    reset_settings()


def test_email_to_customer_and_to_an_address(session, sessions, people, smtp, monkeypatch):
    email_env(monkeypatch, smtp.port)
    service.enqueue(session, channel="email", kind="csat_request", customer_id=people[1].id,
                    subject="服务满意度评价", body="李晓梅您好，请点击链接为本次服务评分：/csat/abc",
                    idempotency_key="csat:ticket:41", origin="service", origin_ref="ticket:41")
    service.enqueue(session, channel="email", kind="sla_breach", address="zhang.lead@huaxin-sec.example",
                    user_id=7, subject="工单 T-1042 已超时", body="工单 T-1042 首次响应已超过 SLA。",
                    idempotency_key="sla_breach:1042", origin="service", origin_ref="ticket:1042")
    session.commit()
    assert service.dispatch_due(sessions)["sent"] == 2
    mails = {m["To"]: m for m in smtp.messages}
    survey = mails["lixiaomei@qq.com"]
    assert survey["Subject"] == "服务满意度评价"
    assert "请点击链接为本次服务评分" in survey.get_content()
    assert survey["Message-ID"] == message_id_for("csat:ticket:41", "service@huaxin-sec.example")
    assert survey["Message-ID"].endswith("@huaxin-sec.example>")
    assert "zhang.lead@huaxin-sec.example" in mails
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == "csat:ticket:41")).one()
    session.refresh(row)
    assert row.provider_message_id == survey["Message-ID"] and row.address_hint == "l***@qq.com"


def test_email_relay_down_then_up(session, sessions, people, monkeypatch):
    port = free_port()
    email_env(monkeypatch, port)
    service.enqueue(session, channel="email", kind="statement", customer_id=people[0].id,
                    subject="2026年11月对账单", body="王建国您好，您 11 月的对账单已生成。",
                    idempotency_key="statement:2026-11:1", origin="accounts")
    session.commit()
    assert service.dispatch_due(sessions, limit=1)["retrying"] == 1  # refused; one pass
    view = service.list_messages(session)[0]
    assert view.state == "failed" and "SMTP relay unreachable" in view.last_error

    relay = SmtpServer(port)
    try:
        drain(sessions, seconds=10)
        assert states(session) == {"sent": 1}
        assert [m["Subject"] for m in relay.messages] == ["2026年11月对账单"]
    finally:
        relay.stop()


def test_email_refused_mailbox_is_dead(session, sessions, people, smtp, monkeypatch):
    email_env(monkeypatch, smtp.port)
    smtp.mailbox.refuse.add("wangjianguo@163.com")
    service.enqueue(session, channel="email", kind="notice", customer_id=people[0].id,
                    subject="新股申购提醒", body="明日可申购：华信科技（申购代码 787123）。",
                    idempotency_key="ipo:787123:1", origin="monitoring")
    session.commit()
    service.dispatch_due(sessions)
    row = session.scalars(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.state == "dead" and "550" in row.last_error and not smtp.messages
