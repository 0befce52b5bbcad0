"""Message ingestion over Redis Streams: a routing worker killed mid-batch loses nothing and
double-handles nothing — every message is routed exactly once in effect (issue 4, item 6)."""

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select, text

from brokercare.core.bus import Event
from brokercare.core.models import ProcessedEvent
from brokercare.service import service as conv_svc
from brokercare.service.channels import Identity, from_json_message
from brokercare.service.models import Message, RoutingDecision

from .conftest import OPEN_HOURS
from .fakes import install

QUESTIONS = [
    "银证转账几点之后不能转？", "两融维持担保比例低于130%会怎样？", "新股中签了什么时候缴款？",
    "国债逆回购204001怎么买？", "我的委托为什么显示废单？", "科创板开通要什么条件？",
    "基金赎回几天到账？", "怎么修改绑定的手机号？", "红利税是怎么扣的？", "APP行情不刷新怎么办？",
]


def test_a_worker_killed_mid_batch_leaves_every_message_routed_exactly_once(engine, session, brokerage,
                                                                            redis_url, redis_prefix, monkeypatch):
    from brokercare.core.bus_redis import RedisStreamBus

    install(monkeypatch)
    # 30 messages stored by the API side, then published for routing.
    events = []
    for i in range(30):
        who = [brokerage.mass, brokerage.long_tail, brokerage.potential][i % 3]
        inbound = from_json_message("app", QUESTIONS[i % 10], client_msg_id=f"k{i}",
                                    identities=[Identity("customer_id", str(who.id), True)])
        got = conv_svc.ingest(session, inbound, now=OPEN_HOURS)
        session.commit()
        m = got.first_customer_message
        events.append(Event(conv_svc.MESSAGE_RECEIVED, {"message_id": m.id, "conversation_id": m.conversation_id,
                                                        "channel": "app"}, customer_id=who.id))
    publisher = RedisStreamBus(redis_url, prefix=redis_prefix)
    publisher.publish_many(events)

    # Worker 1 takes a batch of 10 and dies right after committing the 4th, before its ack.
    search_path = "-"
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            search_path = conn.execute(text("SHOW search_path")).scalar()
    url = engine.url.render_as_string(hide_password=False)
    script = Path(__file__).with_name("redis_consumer.py")
    proc = subprocess.run([sys.executable, str(script), url, search_path, redis_url, redis_prefix, "worker-1", "4"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert proc.stdout.count("handled") == 4
    assert session.scalar(select(func.count(RoutingDecision.id))) == 4
    # 3 acknowledged; the 4th committed but not acknowledged, and 6 more delivered, not handled
    assert publisher.pending_count(conv_svc.ROUTING_CONSUMER, conv_svc.MESSAGE_RECEIVED) == 7

    # Worker 2 starts, reclaims the dead worker's pending entries and consumes the rest.
    survivor = RedisStreamBus(redis_url, prefix=redis_prefix, consumer="worker-2", min_idle_ms=0,
                              batch_size=10, block_ms=100)
    conv_svc.subscribe_routing(survivor)
    survivor.drain(timeout_s=60)
    assert survivor.stats.reclaimed == 7 and survivor.stats.failed == 0
    assert survivor.pending_count(conv_svc.ROUTING_CONSUMER, conv_svc.MESSAGE_RECEIVED) == 0
    assert survivor.dead_letters(conv_svc.ROUTING_CONSUMER) == []

    session.expire_all()
    decided = session.scalars(select(RoutingDecision.message_id)).all()
    assert sorted(decided) == sorted(e.payload["message_id"] for e in events)  # each exactly once
    assert session.scalar(select(func.count(ProcessedEvent.id)).where(
        ProcessedEvent.consumer == conv_svc.ROUTING_CONSUMER)) == 30
    # the redelivered 4th message found its event id recorded and did nothing the second time
    fourth = session.get(Message, events[3].payload["message_id"])
    assert fourth.analysis is not None

    # A replayed event (same id) and a second event for a routed message change nothing.
    publisher.publish(events[0])
    publisher.publish(Event(conv_svc.MESSAGE_RECEIVED, events[1].payload, customer_id=events[1].customer_id))
    survivor.drain(timeout_s=30)
    assert survivor.stats.failed == 0
    session.expire_all()
    assert session.scalar(select(func.count(RoutingDecision.id))) == 30
    publisher.close()
    survivor.close()
