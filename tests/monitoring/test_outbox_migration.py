"""Upgrading a broker's database moves monitoring's own outbox into the shared one (migration
0015): what was pending is still sent, what was sent is not sent again, suppressed rows stay unsent."""

from __future__ import annotations

from sqlalchemy import text

from brokercare.core import migrate

NOTIFICATION = (
    "INSERT INTO notifications (id, idempotency_key, customer_id, alert_id, channel, kind, title, "
    "body, urgent, status, not_before, attempts, provider_ref, created_at, sent_at, read_at) VALUES "
    "(:id, :key, 1, :alert, :channel, :kind, :title, :body, :urgent, :status, '2026-06-16 02:10:00', "
    ":attempts, :ref, '2026-06-16 02:06:00', :sent, :read)")


def test_pending_and_sent_notifications_move_into_the_outbox(empty_engine):
    with empty_engine.begin() as conn:
        migrate.upgrade(conn, "0014_assessed_risks")
        conn.execute(text(
            "INSERT INTO customers (id, customer_no, name, gender, birth_date, id_number_enc, id_number_hash, "
            "phone_enc, phone_hash, phone_verified, province, city, occupation, branch_code, opened_on, status, "
            "investor_type, created_at, updated_at) VALUES (1, 'C000000001', '周建华', 'M', '1975-08-02', 'e', "
            "'h1', 'e', 'p1', true, '江苏', '苏州', '工程师', 'SZ01', '2019-04-08', 'active', 'ordinary', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        rows = [
            (1, "move_down:7:600519.SH:20260616T020600:1:app", None, "app", "move_down",
             "贵州茅台 10 分钟内下跌 5.3%", "pending", 0, None, None, None, False),
            (2, "move_down:7:600519.SH:20260616T020600:1:sms", None, "sms", "move_down",
             "贵州茅台 10 分钟内下跌 5.3%", "read", 1, "gw-8812", "2026-06-16 02:10:02",
             "2026-06-16 02:15:00", False),
            (3, "ipo:pay:780001:1", None, "app", "ipo_payment", "中签缴款提醒", "failed", 5, None, None,
             None, True),
            (4, "move_down:7:000651.SZ:20260616T021200:1:app", None, "app", "move_down",
             "格力电器 10 分钟内下跌 5.1%", "suppressed", 0, None, None, None, False),
        ]
        for rid, key, alert, channel, kind, title, status, attempts, ref, sent, read, urgent in rows:
            conn.execute(text(NOTIFICATION), {
                "id": rid, "key": key, "alert": alert, "channel": channel, "kind": kind,
                "title": title, "body": f"{title}，请留意风险。", "urgent": urgent, "status": status,
                "attempts": attempts, "ref": ref, "sent": sent, "read": read})
        migrate.upgrade(conn, "0015_monitoring_outbox")
        moved = conn.execute(text(
            "SELECT idempotency_key, channel, state, origin, origin_ref, subject, urgent, "
            "provider_message_id FROM outbox_messages ORDER BY idempotency_key")).all()
    assert [tuple(r) for r in moved] == [
        ("ipo:pay:780001:1", "app", "dead", "monitoring", "ipo:pay:780001:1", "中签缴款提醒", True, None),
        ("move_down:7:600519.SH:20260616T020600:1:app", "app", "pending", "monitoring",
         "move_down:7:600519.SH:20260616T020600:1:app", "贵州茅台 10 分钟内下跌 5.3%", False, None),
        ("move_down:7:600519.SH:20260616T020600:1:sms", "sms", "sent", "monitoring",
         "move_down:7:600519.SH:20260616T020600:1:sms", "贵州茅台 10 分钟内下跌 5.3%", False, "gw-8812"),
    ]
