"""Messages that arrive together: stored, routed and answered in one transaction (group commit),
each exactly as if it had come alone; nothing lost when the shared write fails."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from brokercare.ledger import service as ledger
from brokercare.ledger.models import LedgerEntry
from brokercare.security.auth import issue_token
from brokercare.service import audit
from brokercare.service import service as conv_svc
from brokercare.service.channels import Identity, from_json_message
from brokercare.service.intake import Intake
from brokercare.service.models import Conversation, Message, RoutingDecision, Ticket

from .conftest import OPEN_HOURS, add_customer, add_user
from .fakes import install


@pytest.fixture
def ai(monkeypatch):
    fake = install(monkeypatch)
    fake.script = {
        "转账": ("transfer_status", 0.9, "calm", 0.1),
        "投诉": ("complaint", 0.93, "angry", 0.7),
        "开户": ("account_open", 0.92, "calm", 0.1),
        "担保比例": ("margin_ratio", 0.9, "anxious", 0.4),
    }
    return fake


def app_msg(customer, text, msg_id):
    return from_json_message("app", text, client_msg_id=msg_id,
                             identities=[Identity("customer_id", str(customer.id), True)])


def known(session, *customers, now=OPEN_HOURS - timedelta(hours=1)):
    """Each customer has written before (their contact exists), as most senders of a busy day."""
    for i, c in enumerate(customers):
        conv_svc.receive(session, app_msg(c, "你好，请问开户需要带什么？", f"hello-{c.id}"), now=now + timedelta(seconds=i))


def commits(engine):
    seen = []
    event.listen(engine, "commit", lambda conn: seen.append(1))
    return seen


def test_a_batch_of_customers_is_routed_as_each_would_be_alone_with_one_commit(session, engine, brokerage, ai):
    b = brokerage
    known(session, b.mass, b.potential, b.long_tail, b.vip)
    ai.batches.clear()
    batch = [app_msg(b.mass, "昨天的银证转账怎么还没到账？", "m-1"),
             app_msg(b.potential, "你们的APP又闪退，我要投诉！", "p-1"),
             app_msg(b.long_tail, "开户后多久可以买科创板？", "l-1"),
             app_msg(b.vip, "我的信用账户担保比例现在多少？", "v-1")]
    seen = commits(engine)
    out = conv_svc.receive_many(session, batch, now=OPEN_HOURS)
    assert len(seen) == 1  # one transaction for all four
    assert ai.batches == [4]  # analysed together
    mass, potential, long_tail, vip = out
    assert mass.processed.decision.outcome in ("ai_answer", "ai_offer_human")
    assert mass.processed.reply.text.startswith("【AI】") and mass.processed.reply.id is not None
    assert potential.processed.decision.outcome == "human"  # the angry complaint goes to a person
    ticket = session.scalar(select(Ticket).where(Ticket.conversation_id == potential.ingested.conversation.id))
    assert ticket is not None and ticket.category == "complaint"
    assert long_tail.processed.reply is not None
    assert vip.processed.decision.outcome == "human"  # a VIP never waits behind the AI
    assert vip.processed.agent.id == b.manager.id  # their own customer manager first
    # Every decision is on the ledger, and the ledger still verifies.
    decided = session.scalars(select(RoutingDecision.message_id).where(
        RoutingDecision.message_id.in_([r.ingested.first_customer_message.id for r in out]))).all()
    assert len(decided) == 4
    subjects = set(session.scalars(select(LedgerEntry.subject)))
    assert {f"message:{m}" for m in decided} <= subjects
    assert ledger.verify(session).ok


def test_a_customers_second_message_in_the_same_batch_follows_the_first(session, brokerage, ai):
    b = brokerage
    known(session, b.mass, b.long_tail)
    out = conv_svc.receive_many(session, [
        app_msg(b.mass, "转账几点截止？", "m-1"),
        app_msg(b.long_tail, "开户要带身份证吗？", "l-1"),
        app_msg(b.mass, "转账失败了怎么办？", "m-2"),
    ], now=OPEN_HOURS)
    first, _, second = out
    assert first.ingested.conversation.id == second.ingested.conversation.id
    assert first.ingested.first_customer_message.id < second.ingested.first_customer_message.id
    assert second.processed is not None and second.processed.decision is not None
    texts = session.scalars(select(Message.text).where(
        Message.conversation_id == first.ingested.conversation.id, Message.sender == "customer")
        .order_by(Message.id)).all()
    assert texts[-2:] == ["转账几点截止？", "转账失败了怎么办？"]


def test_a_batch_of_complaints_fills_the_desk_slot_by_slot_and_queues_the_rest(session, brokerage, ai):
    """Six angry customers at once: the hand-offs of one batch share one lock-and-count of the
    complaints desk, and still no one gets more chats than their slots — 陈洁 her two, the team
    lead his three only once she is full, and the sixth waits in the queue; the VIP goes to the
    dedicated manager."""
    b = brokerage
    more = [add_customer(session, 10 + i, name=name, phone=f"1370000{i:04d}", tier="mass")
            for i, name in enumerate(["刘洋", "陈静", "杨帆"])]
    session.commit()
    senders = [b.vip, b.mass, b.potential, b.long_tail, *more]
    known(session, *senders)
    out = conv_svc.receive_many(session, [app_msg(c, "你们的APP又闪退，我要投诉！", f"c-{c.id}")
                                          for c in senders], now=OPEN_HOURS)
    convs = [session.get(Conversation, r.processed.conversation.id) for r in out]
    assert all(r.processed.decision.outcome == "human" for r in out)
    assert convs[0].assigned_agent_id == b.manager.id
    taken = [c.assigned_agent_id for c in convs[1:]]
    assert sorted(a for a in taken if a is not None) == sorted([b.complaints_agent.id] * 2 + [b.lead.id] * 3)
    waiting = [c for c in convs[1:] if c.assigned_agent_id is None]
    assert len(waiting) == 1 and waiting[0].status == "waiting"
    # The queue's notice and the assignment notices were written, one per thread.
    notices = session.scalars(select(Message.meta).where(
        Message.conversation_id.in_([c.id for c in convs]), Message.sender == "system")).all()
    assert sum(1 for m in notices if (m or {}).get("event") == "assigned") == 6


def test_a_retry_inside_a_batch_is_answered_as_stored(session, brokerage, ai):
    b = brokerage
    known(session, b.mass, b.long_tail)
    once = conv_svc.receive_many(session, [app_msg(b.mass, "转账几点截止？", "m-9"),
                                           app_msg(b.long_tail, "开户要带什么？", "l-9")], now=OPEN_HOURS)
    again = conv_svc.receive_many(session, [app_msg(b.mass, "转账几点截止？", "m-9"),
                                            app_msg(b.long_tail, "开户要带什么？", "l-9"),
                                            app_msg(b.long_tail, "开户要带什么？", "l-9")],
                                  now=OPEN_HOURS + timedelta(seconds=2))
    assert all(r.ingested.duplicate for r in again)
    assert again[0].ingested.first_customer_message.id == once[0].ingested.first_customer_message.id
    ext = [r.ingested.first_customer_message.external_id for r in once]
    assert session.scalar(select(func.count(Message.id)).where(Message.external_id.in_(ext))) == 2
    assert session.scalar(select(func.count(RoutingDecision.id)).where(RoutingDecision.message_id.in_(
        [r.ingested.first_customer_message.id for r in once]))) == 2


def test_when_the_shared_write_fails_each_message_is_received_alone_and_none_is_lost(
        session, brokerage, ai, monkeypatch):
    b = brokerage
    known(session, b.mass, b.potential, b.long_tail)
    real = audit.ledger_append_many
    calls = []

    def failing_once(s, entries):
        calls.append(len(entries))
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return real(s, entries)

    monkeypatch.setattr(audit, "ledger_append_many", failing_once)
    out = conv_svc.receive_many(session, [app_msg(b.mass, "转账几点截止？", "m-1"),
                                          app_msg(b.potential, "开户要多久？", "p-1"),
                                          app_msg(b.long_tail, "开户要带什么？", "l-1")], now=OPEN_HOURS)
    assert calls[0] == 3  # the batch tried, failed and was rolled back whole
    assert all(r.processed is not None and r.processed.decision is not None for r in out)
    ids = [r.ingested.first_customer_message.id for r in out]
    assert session.scalar(select(func.count(Message.id)).where(Message.id.in_(ids))) == 3
    assert session.scalar(select(func.count(RoutingDecision.id)).where(RoutingDecision.message_id.in_(ids))) == 3
    assert ledger.verify(session).ok


def test_a_plan_is_not_used_once_a_person_took_the_thread(session, engine, brokerage, ai):
    b = brokerage
    known(session, b.mass)
    inbound = app_msg(b.mass, "转账到账了吗？", "m-1")
    analysis = conv_svc.analyze(inbound.customer_text)
    plan = conv_svc.plan(session, inbound, analysis, OPEN_HOURS)
    assert plan.status == "bot" and plan.decision.outcome in ("ai_answer", "ai_offer_human")
    assert conv_svc.confirm(session, [plan]) == [True]
    session.rollback()
    from sqlalchemy.orm import Session

    with Session(engine) as other:  # meanwhile an agent takes the chat in another process
        agent = other.get(type(b.general_agent), b.general_agent.id)
        conv_svc.take_over(other, plan.conversation.id, agent, now=OPEN_HOURS)
        other.commit()
    assert conv_svc.confirm(session, [plan]) == [False]
    got = conv_svc.receive_many(session, [inbound, app_msg(b.long_tail, "开户要带什么？", "l-1")],
                                now=OPEN_HOURS)[0]
    assert got.processed.decision.rule == "already_with_human"
    assert got.processed.reply is None  # the AI does not talk over the agent
    assert session.get(Conversation, plan.conversation.id).status == "assigned"


def test_the_api_answers_each_request_of_a_batch_on_its_own(session, brokerage, ai, engine):
    from brokercare.service import views
    from brokercare.service.schemas import MessageIn

    b = brokerage
    known(session, b.mass, b.potential)
    mass_user = add_user(session, "zhangwei", role="customer")
    mass_user.customer_id = b.mass.id
    su_user = add_user(session, "suxiaomei", role="customer")
    su_user.customer_id = b.potential.id
    agent = add_user(session, "cs_qian", role="agent", skills=["complaints"])
    session.commit()
    results = views._post_messages([
        (MessageIn(text="转账几点截止？", client_msg_id="a-1"), issue_token(mass_user)[0]),
        (MessageIn(text="开户要多久？", client_msg_id="a-2"), "not-a-token"),
        (MessageIn(text="开户要带什么？", client_msg_id="a-3"), issue_token(su_user)[0]),
        (MessageIn(text="客户来电咨询", channel="branch"), issue_token(agent)[0]),  # no identity given
        (MessageIn(text="我要用微信发", channel="wechat", client_msg_id="a-5"), issue_token(mass_user)[0]),
    ])
    import json

    first, bad_token, third, no_identity, wrong_channel = results
    assert json.loads(first)["routing"]["outcome"] in ("ai_answer", "ai_offer_human")
    assert json.loads(third)["customer_known"] is True
    assert getattr(bad_token, "status_code", None) == 401
    assert getattr(no_identity, "status_code", None) == 422
    assert getattr(wrong_channel, "status_code", None) == 403
    assert "客户只能通过" in str(wrong_channel)


def test_intake_batches_what_waits_and_answers_each_sender():
    sizes = []

    def handle(items):
        sizes.append(len(items))
        return [ValueError(f"坏消息 {i}") if i % 5 == 4 else i * 10 for i in items]

    async def main():
        intake = Intake(handle, workers=1, max_batch=4)
        alone = await intake.submit(7)  # a lone message goes at once, by itself
        return alone, await asyncio.gather(*(intake.submit(i) for i in range(10)), return_exceptions=True)

    alone, got = asyncio.run(main())
    assert alone == 70
    assert got[:4] == [0, 10, 20, 30] and isinstance(got[4], ValueError) and got[9].args == ("坏消息 9",)
    assert sizes == [1, 4, 4, 2]  # ten at once: as they queued, at most four together


def test_concurrent_customers_through_http_are_batched_and_each_gets_their_answer(session, brokerage, ai):
    """Twelve customers' messages in flight at once: the intake routes them in batches, every
    request is answered 200 with its own message, and every message is stored once."""
    import httpx

    from brokercare.api import create_app

    b = brokerage
    customers = [b.mass, b.potential, b.long_tail]
    users = []
    for i, c in enumerate(customers):
        u = add_user(session, f"kehu_{i}", role="customer")
        u.customer_id = c.id
        users.append(u)
    session.commit()
    known(session, *customers)
    ai.batches.clear()
    texts = ["转账几点截止？", "开户要带身份证吗？", "担保比例怎么算？", "转账失败了怎么办？"]

    async def main():
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            async def send(i):
                user = users[i % 3]
                return await client.post("/api/v1/service/messages",
                                         json={"text": texts[i % 4], "client_msg_id": f"h-{i}"},
                                         headers={"Authorization": f"Bearer {issue_token(user)[0]}"})
            return await asyncio.gather(*(send(i) for i in range(12)))

    answers = asyncio.run(main())
    assert [a.status_code for a in answers] == [200] * 12
    ids = [a.json()["message_id"] for a in answers]
    assert len(set(ids)) == 12
    assert max(ai.batches) > 1  # some arrived together and were analysed together
    stored = session.scalars(select(Message.text).where(Message.id.in_(ids)).order_by(Message.id)).all()
    assert sorted(stored) == sorted(texts[i % 4] for i in range(12))
    assert session.scalar(select(func.count(RoutingDecision.id)).where(RoutingDecision.message_id.in_(ids))) == 12


def test_a_full_intake_refuses_at_once_and_keeps_what_it_took():
    """Beyond its limit the intake refuses new messages at once (the API answers 503 with
    Retry-After) instead of letting every customer's wait grow; what it accepted is answered."""
    import threading

    release = threading.Event()

    def handle(items):
        release.wait(5)
        return [f"已处理 {i}" for i in items]

    async def main():
        intake = Intake(handle, workers=1, max_batch=10, limit=3, full=lambda: RuntimeError("系统繁忙"))
        first = asyncio.create_task(intake.submit(0))  # taken at once by the worker
        await asyncio.sleep(0.05)
        waiting = [asyncio.create_task(intake.submit(i)) for i in (1, 2, 3)]
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError, match="系统繁忙"):
            await intake.submit(4)
        release.set()
        return await first, await asyncio.gather(*waiting)

    first, rest = asyncio.run(main())
    assert first == "已处理 0" and rest == ["已处理 1", "已处理 2", "已处理 3"]


def test_the_api_answers_a_full_queue_with_503_and_retry_after(session, brokerage, ai, monkeypatch):
    from fastapi.testclient import TestClient

    from brokercare.api import create_app
    from brokercare.service import views

    user = add_user(session, "kehu_full", role="customer")
    user.customer_id = brokerage.mass.id
    session.commit()

    class Full:
        async def submit(self, item):
            raise views.Busy("系统繁忙，请稍后重试。(message queue full: retry)", extra={"retry_after_s": 1})

    monkeypatch.setattr(views, "_message_intake", lambda: Full())
    with TestClient(create_app()) as client:
        r = client.post("/api/v1/service/messages", json={"text": "转账几点截止？"},
                        headers={"Authorization": f"Bearer {issue_token(user)[0]}"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json()["detail"].startswith("系统繁忙")
